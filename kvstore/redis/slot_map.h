// The cluster client's routing table: which master serves each of the 16384
// hash slots, as reported by CLUSTER SLOTS and patched by MOVED replies.
// Used by RedisClusterClient under its own lock. Thread-compatible.
#ifndef GQA_KVSTORE_REDIS_SLOT_MAP_H_
#define GQA_KVSTORE_REDIS_SLOT_MAP_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvstore/redis/hash_slot.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/resp.h"

namespace gqa::kvstore {

class SlotMap {
 public:
  SlotMap() { owner_idx_.fill(kNoOwner); }

  // Parses a CLUSTER SLOTS reply: [[first, last, [host, port, id, ...],
  // replica...], ...]. A master whose host is empty, null or "?" is on
  // `fallback_host` (the host the reply came from), as the spec asks.
  // INVALID_ARGUMENT, describing the reply, when it does not have that shape.
  static absl::StatusOr<SlotMap> FromClusterSlots(const RespValue& reply,
                                                  absl::string_view fallback_host);

  // The master serving `slot`, or nullopt when no node does.
  std::optional<RedisAddress> MasterOf(uint16_t slot) const;
  // Points `slot` at `master` (after a MOVED reply).
  void Assign(uint16_t slot, const RedisAddress& master);

  // Every master that serves at least one slot, in first-seen order.
  std::vector<RedisAddress> Masters() const;
  int num_covered_slots() const;

 private:
  static constexpr int16_t kNoOwner = -1;
  int16_t IndexOf(const RedisAddress& master);

  std::vector<RedisAddress> masters_;
  std::array<int16_t, kNumHashSlots> owner_idx_;  // index into masters_, or kNoOwner
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_SLOT_MAP_H_
