#include "kvstore/store/memory_tier.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/status.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/record_format.h"

namespace gqa::kvstore {

MemoryTier::MemoryTier(MemoryTierOptions options)
    : capacity_bytes_(options.capacity_bytes), env_(options.env), next_(options.next) {
  CHECK(env_ != nullptr) << "MemoryTier needs an Env";
  CHECK_GT(capacity_bytes_, 0);
  ReplacementPolicyFactory factory =
      options.policy_factory ? options.policy_factory : ReplacementPolicyFactory(NewLruPolicy);
  absl::MutexLock lock(&mu_);
  prefix_policy_ = factory();
  swap_policy_ = factory();
}

ReplacementPolicy& MemoryTier::PolicyFor(BlockKind kind) {
  return kind == BlockKind::kPrefix ? *prefix_policy_ : *swap_policy_;
}

void MemoryTier::EraseLocked(Map::iterator it) {
  Entry& entry = it->second;
  PolicyFor(entry.block->key.kind).OnErase(entry.handle);
  if (entry.expiry_ns != 0) expiries_.erase({entry.expiry_ns, entry.handle});
  handle_keys_.erase(entry.handle);
  used_bytes_ -= entry.charge_bytes;
  (entry.block->key.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) -= 1;
  entries_.erase(it);
}

bool MemoryTier::ExpireIfDueLocked(Map::iterator it, int64_t now_ns) {
  if (it->second.expiry_ns == 0 || now_ns < it->second.expiry_ns) return false;
  EraseLocked(it);
  counters_.expired.fetch_add(1);
  return true;
}

int64_t MemoryTier::SweepLocked(int64_t now_ns) {
  int64_t num_expired = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now_ns) {
    const uint64_t handle = expiries_.begin()->second;
    auto it = entries_.find(handle_keys_.at(handle));
    CHECK(it != entries_.end());
    CHECK(ExpireIfDueLocked(it, now_ns));
    ++num_expired;
  }
  return num_expired;
}

bool MemoryTier::PickVictimsLocked(int64_t need, const BlockKey& incoming,
                                   const std::string& incoming_key,
                                   std::vector<uint64_t>* victims) {
  int64_t freed = 0;
  auto take = [&](uint64_t handle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string& key = handle_keys_.at(handle);
    if (key == incoming_key) return true;  // the block being replaced is not a victim
    victims->push_back(handle);
    freed += entries_.at(key).charge_bytes;
    return freed < need;
  };
  prefix_policy_->ForEachInEvictionOrder(take);
  if (freed >= need) return true;
  if (incoming.kind != BlockKind::kSwap || next_ == nullptr) return false;
  // Demote this sequence's own older swap blocks, never another sequence's.
  const std::string sequence = SwapSequencePrefix(incoming.tenant, incoming.seq_id);
  swap_policy_->ForEachInEvictionOrder([&](uint64_t handle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!absl::StartsWith(handle_keys_.at(handle), sequence)) return true;
    return take(handle);
  });
  return freed >= need;
}

absl::Status MemoryTier::EvictLocked(uint64_t handle) {
  auto it = entries_.find(handle_keys_.at(handle));
  CHECK(it != entries_.end());
  const Entry& entry = it->second;
  if (next_ != nullptr) {
    absl::StatusOr<PutOutcome> demoted = next_->Put(entry.block, entry.expiry_ns);
    if (!demoted.ok()) {
      if (entry.block->key.kind == BlockKind::kSwap) {
        return absl::ResourceExhaustedError(
            absl::StrCat("memory tier is full and the next tier refused a demoted swap block: ",
                         demoted.status().message()));
      }
      VLOG(1) << "memory tier dropped a prefix block the next tier refused: " << demoted.status();
    }
  }
  EraseLocked(it);
  counters_.evictions.fetch_add(1);
  return absl::OkStatus();
}

absl::StatusOr<PutOutcome> MemoryTier::Put(BlockRef block, int64_t expiry_ns) {
  std::string key = EncodeBlockKey(block->key);
  const int64_t charge = RecordBytes(block->key, static_cast<int64_t>(block->payload.size()));
  absl::MutexLock lock(&mu_);
  SweepLocked(env_->NowNanos());
  auto it = entries_.find(key);
  if (it != entries_.end() && block->key.kind == BlockKind::kPrefix) {
    prefix_policy_->OnAccess(it->second.handle);
    return PutOutcome::kAlreadyPresent;
  }
  if (charge > capacity_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a block of ", charge, " bytes exceeds the memory tier's ", capacity_bytes_, " bytes"));
  }
  const int64_t replaced = it != entries_.end() ? it->second.charge_bytes : 0;
  const int64_t need = used_bytes_ - replaced + charge - capacity_bytes_;
  if (need > 0) {
    std::vector<uint64_t> victims;
    if (!PickVictimsLocked(need, block->key, key, &victims)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "memory tier full: ", used_bytes_, " of ", capacity_bytes_, " bytes used, and a ", charge,
          "-byte ", block->key.kind == BlockKind::kSwap ? "swap" : "prefix",
          " block may not evict other sequences' swap blocks (", num_swap_blocks_,
          " held); delete finished sequences or add capacity"));
    }
    for (uint64_t victim : victims) RETURN_IF_ERROR(EvictLocked(victim));
    it = entries_.find(key);  // eviction invalidates btree iterators
  }
  if (it != entries_.end()) EraseLocked(it);
  const uint64_t handle = next_handle_++;
  const BlockKind kind = block->key.kind;
  Entry entry{std::move(block), kind == BlockKind::kSwap ? expiry_ns : 0, charge, handle};
  if (entry.expiry_ns != 0) expiries_.insert({entry.expiry_ns, handle});
  handle_keys_.emplace(handle, key);
  entries_.emplace(std::move(key), std::move(entry));
  PolicyFor(kind).OnInsert(handle);
  used_bytes_ += charge;
  (kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) += 1;
  return PutOutcome::kStored;
}

absl::StatusOr<Block> MemoryTier::Get(const BlockKey& key) {
  const std::string encoded = EncodeBlockKey(key);
  BlockRef block;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(encoded);
    if (it == entries_.end() || ExpireIfDueLocked(it, env_->NowNanos())) {
      return absl::NotFoundError("not in the memory tier");
    }
    PolicyFor(key.kind).OnAccess(it->second.handle);
    block = it->second.block;
  }
  // The copy and the checksum run outside the lock: the block is immutable.
  // NOTE: the checksum is over the copy returned, not the held bytes, so
  // what the caller gets is exactly what was verified
  // (BlockStoreTraits::get_verifies_payload).
  Block copy = *block;
  if (crc32c::Value(copy.payload) != copy.payload_crc32c) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(encoded);
    if (it != entries_.end() && it->second.block == block) {
      EraseLocked(it);
      counters_.corrupt_dropped.fetch_add(1);
      LOG(ERROR) << "memory tier dropped a block failing its checksum tenant=" << key.tenant;
    }
    return absl::NotFoundError("a memory tier block failed its checksum and was dropped");
  }
  counters_.hits.fetch_add(1);
  return copy;
}

absl::StatusOr<bool> MemoryTier::Contains(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(EncodeBlockKey(key));
  return it != entries_.end() && !ExpireIfDueLocked(it, env_->NowNanos());
}

absl::StatusOr<bool> MemoryTier::Delete(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(EncodeBlockKey(key));
  if (it == entries_.end() || ExpireIfDueLocked(it, env_->NowNanos())) return false;
  EraseLocked(it);
  return true;
}

absl::StatusOr<int64_t> MemoryTier::DeleteSwapSequence(absl::string_view tenant,
                                                       absl::string_view seq_id) {
  const std::string prefix = SwapSequencePrefix(tenant, seq_id);
  absl::MutexLock lock(&mu_);
  SweepLocked(env_->NowNanos());
  int64_t num_deleted = 0;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && absl::StartsWith(it->first, prefix);
       it = entries_.lower_bound(prefix)) {
    EraseLocked(it);
    ++num_deleted;
  }
  return num_deleted;
}

int64_t MemoryTier::SweepExpired() {
  absl::MutexLock lock(&mu_);
  return SweepLocked(env_->NowNanos());
}

TierStats MemoryTier::Stats() {
  TierStats stats;
  stats.tier = TierKind::kMemory;
  stats.capacity_bytes = capacity_bytes_;
  {
    absl::MutexLock lock(&mu_);
    stats.used_bytes = used_bytes_;
    stats.num_prefix_blocks = num_prefix_blocks_;
    stats.num_swap_blocks = num_swap_blocks_;
  }
  counters_.FillStats(stats);
  return stats;
}

bool MemoryTier::CorruptPayloadForTesting(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(EncodeBlockKey(key));
  if (it == entries_.end() || it->second.block->payload.empty()) return false;
  auto corrupted = std::make_shared<Block>(*it->second.block);
  corrupted->payload[corrupted->payload.size() / 2] ^= 0x01;
  it->second.block = std::move(corrupted);
  return true;
}

}  // namespace gqa::kvstore
