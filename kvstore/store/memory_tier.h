// MemoryTier: blocks in process memory under a byte budget (each block costs
// its record size: payload + header + checksums, as on disk). When a Put
// needs room it evicts, in the replacement policy's order (LRU by default):
//   1. prefix blocks, handed to the next tier (demotion) or dropped;
//   2. only for an incoming swap block and only with a next tier: swap
//      blocks of the same sequence, demoted (a swap block is never dropped).
// A swap block never evicts another sequence's swap block; if that is what
// it would take, Put fails RESOURCE_EXHAUSTED. Swap blocks expire lazily on
// access and in SweepExpired(). Thread-safe.
#ifndef GQA_KVSTORE_STORE_MEMORY_TIER_H_
#define GQA_KVSTORE_STORE_MEMORY_TIER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "kvstore/store/replacement_policy.h"
#include "kvstore/store/tier.h"

namespace gqa::kvstore {

struct MemoryTierOptions {
  // Budget in bytes (record sizes). Required, > 0.
  int64_t capacity_bytes = 0;
  // The clock for swap expiry. Borrowed; required.
  Env* env = nullptr;
  // Makes each of the two policies (prefix, swap); empty: NewLruPolicy.
  ReplacementPolicyFactory policy_factory;
  // Where evicted blocks go (demotion). Borrowed; nullptr: dropped, and swap
  // blocks are never evicted.
  Tier* next = nullptr;
};

class MemoryTier : public Tier {
 public:
  explicit MemoryTier(MemoryTierOptions options);
  MemoryTier(const MemoryTier&) = delete;
  MemoryTier& operator=(const MemoryTier&) = delete;

  TierKind kind() const override { return TierKind::kMemory; }
  absl::StatusOr<PutOutcome> Put(BlockRef block, int64_t expiry_ns) override;
  absl::StatusOr<Block> Get(const BlockKey& key) override;
  absl::StatusOr<bool> Contains(const BlockKey& key) override;
  absl::StatusOr<bool> Delete(const BlockKey& key) override;
  absl::StatusOr<int64_t> DeleteSwapSequence(absl::string_view tenant,
                                             absl::string_view seq_id) override;
  int64_t SweepExpired() override;
  TierStats Stats() override;
  int64_t num_expired_swap_blocks() override { return counters_.expired.load(); }

  // Flips one payload byte of a held block, as a memory fault would. Returns
  // false when the key is not held.
  bool CorruptPayloadForTesting(const BlockKey& key);

 private:
  struct Entry {
    BlockRef block;
    int64_t expiry_ns = 0;
    int64_t charge_bytes = 0;
    uint64_t handle = 0;
  };
  using Map = absl::btree_map<std::string, Entry>;

  ReplacementPolicy& PolicyFor(BlockKind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Chooses victims freeing at least `need` bytes, or returns false.
  bool PickVictimsLocked(int64_t need, const BlockKey& incoming, const std::string& incoming_key,
                         std::vector<uint64_t>* victims) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Demotes (or drops) one victim. An error only for a swap block that the
  // next tier refused; it then stays.
  absl::Status EvictLocked(uint64_t handle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(Map::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Erases `it` when its swap block has expired; returns whether it did.
  bool ExpireIfDueLocked(Map::iterator it, int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t SweepLocked(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t capacity_bytes_;
  Env* const env_;
  Tier* const next_;

  absl::Mutex mu_;
  Map entries_ ABSL_GUARDED_BY(mu_);  // by EncodeBlockKey
  absl::flat_hash_map<uint64_t, std::string> handle_keys_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ReplacementPolicy> prefix_policy_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ReplacementPolicy> swap_policy_ ABSL_GUARDED_BY(mu_);
  absl::btree_set<std::pair<int64_t, uint64_t>> expiries_ ABSL_GUARDED_BY(mu_);  // (expiry, handle)
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_prefix_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_swap_blocks_ ABSL_GUARDED_BY(mu_) = 0;

  TierCounters counters_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_MEMORY_TIER_H_
