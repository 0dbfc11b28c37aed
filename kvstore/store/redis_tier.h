// RedisTier: blocks in a Redis Cluster, for a store spanning machines. Each
// value is the same checksummed record as on disk (record_format.h), verified
// on every read; a swap block is SET with PX = its remaining TTL. Redis is a
// cache: whatever it loses (eviction, a failed node) is simply a miss.
//
// Keys (every variable part hashed, so no user byte reaches a key):
//   prefix block  <prefix>b:<hex SHA-256 of the encoded key>
//   swap block    <prefix>{<seq tag>}:b:<hex SHA-256 of the encoded key>
//   manifest      <prefix>{<seq tag>}:m
// where <seq tag> is hex of the first 16 bytes of SHA-256(SwapSequencePrefix):
// a sequence's blocks and manifest share a hash tag, hence a slot and a node.
// DeleteSwapSequence reads the sequence's manifest (the Redis keys of its swap
// blocks, written on each swap Put) and DELs those keys and the manifest.
// Thread-safe; a process-wide mutex orders manifest read-modify-writes.
#ifndef GQA_KVSTORE_STORE_REDIS_TIER_H_
#define GQA_KVSTORE_STORE_REDIS_TIER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "kvstore/redis/redis_cluster_client.h"
#include "kvstore/store/tier.h"

namespace gqa::kvstore {

struct RedisTierOptions {
  // The cluster. Borrowed; required.
  RedisClusterClient* client = nullptr;
  // Clocks: TTLs and the expiry stamped in records. Borrowed; required.
  Env* env = nullptr;
  // Prepended to every key; must not contain '{' or '}'. Default "gqa:kv:".
  std::string key_prefix = "gqa:kv:";
  // Reported as TierStats.capacity_bytes (Redis enforces its own maxmemory);
  // 0: unknown. Default 0.
  int64_t capacity_bytes = 0;
};

class RedisTier : public Tier {
 public:
  // INVALID_ARGUMENT for a missing client or env or a key_prefix with braces.
  static absl::StatusOr<std::unique_ptr<RedisTier>> Create(RedisTierOptions options);
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  TierKind kind() const override { return TierKind::kRedis; }
  absl::StatusOr<PutOutcome> Put(BlockRef block, int64_t expiry_ns) override;
  absl::StatusOr<Block> Get(const BlockKey& key) override;
  absl::StatusOr<bool> Contains(const BlockKey& key) override;
  absl::StatusOr<bool> Delete(const BlockKey& key) override;
  absl::StatusOr<int64_t> DeleteSwapSequence(absl::string_view tenant,
                                             absl::string_view seq_id) override;
  // Forgets tracked swap blocks whose TTL passed (Redis drops them itself).
  int64_t SweepExpired() override;
  // NOTE: Redis is shared and evicts on its own, so used_bytes and the block
  // counts are what this process stored and has not seen deleted, expired
  // or missing: an estimate. num_evictions counts blocks found missing
  // before their expiry (evicted by Redis, or deleted by another process).
  TierStats Stats() override;
  int64_t num_expired_swap_blocks() override { return counters_.expired.load(); }

  // The Redis key of a block, and of a sequence's manifest.
  std::string BlockRedisKey(const BlockKey& key) const;
  std::string ManifestRedisKey(absl::string_view tenant, absl::string_view seq_id) const;

 private:
  struct Tracked {
    BlockKind kind = BlockKind::kPrefix;
    int64_t bytes = 0;
    int64_t expiry_ns = 0;  // 0: none
  };

  explicit RedisTier(RedisTierOptions options);
  // Adds `redis_key` (expiring at expiry_unix_ns) to the sequence's manifest.
  absl::Status AddToManifest(const BlockKey& key, const std::string& redis_key,
                             int64_t expiry_unix_ns);
  void Track(const std::string& redis_key, Tracked tracked);
  void Untrack(const std::string& redis_key);
  // A tracked key found missing: expired, or (before its expiry) evicted.
  void UntrackMissing(const std::string& redis_key);

  RedisClusterClient* const client_;
  Env* const env_;
  const std::string key_prefix_;
  const int64_t capacity_bytes_;

  absl::Mutex manifest_mu_;  // held across a manifest's GET ... SET

  absl::Mutex mu_;
  absl::btree_map<std::string, Tracked> tracked_ ABSL_GUARDED_BY(mu_);  // by Redis key
  absl::btree_set<std::pair<int64_t, std::string>> expiries_ ABSL_GUARDED_BY(mu_);
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_prefix_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_swap_blocks_ ABSL_GUARDED_BY(mu_) = 0;

  TierCounters counters_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_REDIS_TIER_H_
