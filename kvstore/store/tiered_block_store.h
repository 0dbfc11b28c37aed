// TieredBlockStore: the BlockStore behind the kvstore service. Tiers, fastest
// first: memory (optional), disk (optional), Redis Cluster (optional); at
// least one. Put stores into the fastest tier with room: the memory tier makes
// room by evicting prefix blocks (LRU) and demoting them to the next tier;
// when it cannot (the rest is other sequences' swap blocks), the block goes
// straight to the next tier, and RESOURCE_EXHAUSTED only when no tier takes
// it. Get reads the fastest tier holding the block, every tier verifying the
// checksum, and copies a prefix block found lower down into memory. A swap
// block lives in exactly one tier; a prefix block may sit in several.
//
// Thread-safe. NOTE: Put, Delete, DeleteSwapSequence, promotion and sweeps
// hold a writer lock across tiers, so no reader ever sees a block between
// two tiers (absent from both); Get, Lookup and Stats share a reader lock.
//
// Replicated KV heads (tp > kv_heads): the ranks that replicate a head send
// the same shard key, so the block is stored once: a prefix block answers
// kAlreadyPresent to all but the first; a swap block is replaced by the
// identical bytes of the next replica (kStored), still one block.
#ifndef GQA_KVSTORE_STORE_TIERED_BLOCK_STORE_H_
#define GQA_KVSTORE_STORE_TIERED_BLOCK_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "kvstore/redis/redis_cluster_client.h"
#include "kvstore/store/block_store.h"
#include "kvstore/store/disk_tier.h"
#include "kvstore/store/memory_tier.h"
#include "kvstore/store/replacement_policy.h"
#include "kvstore/store/tier.h"

namespace gqa::kvstore {

struct TieredBlockStoreOptions {
  // Files and clocks. Borrowed; nullptr: Env::Default().
  Env* env = nullptr;

  // Memory tier budget in bytes; a block costs its record size (payload +
  // header + checksums, see docs/formats/kvstore-disk.md). 0: no memory
  // tier. Default 1 GiB.
  int64_t memory_bytes = int64_t{1} << 30;
  // The memory tier's replacement policy; empty: LRU.
  ReplacementPolicyFactory memory_policy;

  // Disk tier directory; empty: no disk tier.
  std::string disk_dir;
  // Disk tier budget in bytes (all segment files). Required > 0 with disk_dir.
  int64_t disk_bytes = 0;
  // Disk segment size (DiskTierOptions::segment_bytes). Default 64 MiB.
  int64_t disk_segment_bytes = int64_t{64} << 20;
  // fdatasync after every disk record. Default false.
  bool disk_sync_writes = false;

  // A Redis Cluster tier below the others; nullptr: none. Owned.
  std::unique_ptr<RedisClusterClient> redis;
  // Prefix of every Redis key (no braces). Default "gqa:kv:".
  std::string redis_key_prefix = "gqa:kv:";
  // Reported as the Redis tier's capacity; 0: unknown. Default 0.
  int64_t redis_capacity_bytes = 0;

  // Copy a prefix block that Get found in a slower tier into the memory
  // tier. Swap blocks are never promoted: a swap-in is followed by a
  // Delete. Default true.
  bool promote_on_get = true;
  // Put sweeps expired swap blocks out of every tier at most this often
  // (lookups also expire them lazily). Nanoseconds; default 1 s.
  int64_t sweep_interval_ns = 1'000'000'000;
};

class TieredBlockStore : public BlockStore {
 public:
  // Builds the tiers (the disk tier rebuilds its index from dir).
  // INVALID_ARGUMENT for inconsistent options or no tier at all; the disk
  // tier's errors when its directory cannot be created or listed.
  static absl::StatusOr<std::unique_ptr<TieredBlockStore>> Open(TieredBlockStoreOptions options);
  TieredBlockStore(const TieredBlockStore&) = delete;
  TieredBlockStore& operator=(const TieredBlockStore&) = delete;
  ~TieredBlockStore() override;

  // BlockStore. Put also fails INVALID_ARGUMENT for an invalid key or layout,
  // a payload of the wrong size, or swap_ttl_ms not > 0 for a swap block or
  // not 0 for a prefix block, and DATA_LOSS when the payload does not match
  // payload_crc32c. Get, Lookup, Delete and DeleteSwapSequence fail
  // INVALID_ARGUMENT for an invalid key.
  absl::StatusOr<PutOutcome> Put(Block block, int64_t swap_ttl_ms) override;
  absl::StatusOr<PutOutcome> PutChecked(Block block, int64_t swap_ttl_ms) override;
  absl::StatusOr<Block> Get(const BlockKey& key) override;
  absl::StatusOr<int64_t> Lookup(const std::string& tenant, const KvShard& shard, DType dtype,
                                 absl::Span<const std::string> logical_ids) override;
  absl::StatusOr<int64_t> Delete(absl::Span<const BlockKey> keys) override;
  absl::StatusOr<int64_t> DeleteSwapSequence(const std::string& tenant,
                                             const std::string& seq_id) override;
  StoreStats Stats() override;
  // memory_only and get_verifies_payload when the memory tier is the only
  // tier (the disk and Redis reads are not audited for a copy after their
  // check, so the service keeps its own pass there).
  BlockStoreTraits traits() const override;

  // Drops every expired swap block from every tier now; returns how many.
  int64_t SweepExpired();

  // The tiers, or nullptr when not configured.
  MemoryTier* memory_tier_for_testing() { return memory_; }
  DiskTier* disk_tier_for_testing() { return disk_; }

 private:
  TieredBlockStore(Env* env, TieredBlockStoreOptions& options);
  int64_t SweepLocked(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Put, with or without the checksum pass over the payload.
  absl::StatusOr<PutOutcome> PutBlock(Block block, int64_t swap_ttl_ms, bool verify_payload);

  Env* const env_;
  const bool promote_on_get_;
  const int64_t sweep_interval_ns_;
  std::unique_ptr<RedisClusterClient> redis_client_;  // outlives tiers_
  std::vector<std::unique_ptr<Tier>> tiers_;          // fastest first; fixed after Open
  MemoryTier* memory_ = nullptr;
  DiskTier* disk_ = nullptr;

  absl::Mutex mu_;
  int64_t last_sweep_ns_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> num_misses_{0};
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_TIERED_BLOCK_STORE_H_
