#include "kvstore/redis/slot_map.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace gqa::kvstore {
namespace {

absl::Status BadReply(const RespValue& reply, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected CLUSTER SLOTS reply (", why, "): ", reply.DebugString()));
}

}  // namespace

absl::StatusOr<SlotMap> SlotMap::FromClusterSlots(const RespValue& reply,
                                                  absl::string_view fallback_host) {
  using Type = RespValue::Type;
  if (reply.is_error()) return BadReply(reply, "error reply");
  if (reply.type != Type::kArray) return BadReply(reply, "not an array");
  SlotMap map;
  for (const RespValue& range : reply.elements) {
    if (range.type != Type::kArray || range.elements.size() < 3 ||
        range.elements[0].type != Type::kInteger || range.elements[1].type != Type::kInteger) {
      return BadReply(range, "a range is not [first, last, master, ...]");
    }
    const int64_t first = range.elements[0].integer;
    const int64_t last = range.elements[1].integer;
    if (first < 0 || last >= kNumHashSlots || first > last) {
      return BadReply(range, "slot range out of [0, 16383]");
    }
    const RespValue& node = range.elements[2];
    if (node.type != Type::kArray || node.elements.size() < 2 ||
        node.elements[1].type != Type::kInteger) {
      return BadReply(range, "master is not [host, port, ...]");
    }
    const RespValue& host = node.elements[0];
    if (host.type != Type::kBulkString && host.type != Type::kNullBulk &&
        host.type != Type::kSimpleString) {
      return BadReply(range, "master host is not a string");
    }
    const int64_t port = node.elements[1].integer;
    if (port < 1 || port > 65535) return BadReply(range, "master port out of range");
    RedisAddress master;
    master.host = (host.str.empty() || host.str == "?") ? std::string(fallback_host) : host.str;
    master.port = static_cast<int>(port);
    const int16_t idx = map.IndexOf(master);
    std::fill(map.owner_idx_.begin() + first, map.owner_idx_.begin() + last + 1, idx);
  }
  return map;
}

int16_t SlotMap::IndexOf(const RedisAddress& master) {
  const auto it = std::find(masters_.begin(), masters_.end(), master);
  if (it != masters_.end()) return static_cast<int16_t>(it - masters_.begin());
  masters_.push_back(master);
  return static_cast<int16_t>(masters_.size() - 1);
}

std::optional<RedisAddress> SlotMap::MasterOf(uint16_t slot) const {
  if (slot >= kNumHashSlots || owner_idx_[slot] == kNoOwner) return std::nullopt;
  return masters_[owner_idx_[slot]];
}

void SlotMap::Assign(uint16_t slot, const RedisAddress& master) {
  if (slot >= kNumHashSlots) return;
  owner_idx_[slot] = IndexOf(master);
}

std::vector<RedisAddress> SlotMap::Masters() const {
  std::vector<bool> used(masters_.size(), false);
  for (int16_t idx : owner_idx_) {
    if (idx != kNoOwner) used[idx] = true;
  }
  std::vector<RedisAddress> out;
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (used[i]) out.push_back(masters_[i]);
  }
  return out;
}

int SlotMap::num_covered_slots() const {
  return static_cast<int>(std::count_if(owner_idx_.begin(), owner_idx_.end(),
                                        [](int16_t idx) { return idx != kNoOwner; }));
}

}  // namespace gqa::kvstore
