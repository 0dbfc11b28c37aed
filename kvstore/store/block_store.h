// BlockStore: the kvstore's storage engine behind the gRPC service: one or
// more tiers (memory, then local disk; or a Redis Cluster), capacity
// eviction, swap TTLs, tenant isolation and checksums. The service calls it
// with validated keys (kvstore/store/block.h); every method is thread-safe.
#ifndef GQA_KVSTORE_STORE_BLOCK_STORE_H_
#define GQA_KVSTORE_STORE_BLOCK_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

enum class PutOutcome : uint8_t { kStored, kAlreadyPresent };

enum class TierKind : uint8_t { kMemory, kDisk, kRedis };

struct TierStats {
  TierKind tier = TierKind::kMemory;
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
  int64_t num_prefix_blocks = 0;
  int64_t num_swap_blocks = 0;
  int64_t num_hits = 0;
  int64_t num_evictions = 0;
  int64_t num_corrupt_dropped = 0;
};

// What a store promises about its own calls; KvStoreService uses it to skip
// work that would repeat the store's (see kvstore_service.h).
struct BlockStoreTraits {
  // Put and Get touch only this process's memory: no disk or network I/O,
  // at most short lock waits. Such calls may run on a gRPC callback thread.
  bool memory_only = false;
  // Get verifies the payload it returns against payload_crc32c after the
  // store's last copy of it, in this process; the caller need not re-check.
  bool get_verifies_payload = false;
};

struct StoreStats {
  std::vector<TierStats> tiers;  // fastest first
  int64_t num_misses = 0;
  int64_t num_expired_swap_blocks = 0;
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Stores `block` (its crc already checked by the caller against the
  // payload; the store re-checks on every read). swap_ttl_ms > 0 for swap
  // blocks, 0 for prefix blocks. A prefix key already present:
  // kAlreadyPresent, the stored block kept. RESOURCE_EXHAUSTED when the
  // block is larger than the store, swap space is full, or the disk refuses
  // writes (reads keep working). UNAVAILABLE when a backing Redis is down.
  virtual absl::StatusOr<PutOutcome> Put(Block block, int64_t swap_ttl_ms) = 0;

  // Put for a block whose payload the caller has itself just checked
  // against payload_crc32c, in this process, with no copy of the bytes
  // since: the store may skip its own checksum pass (every read still
  // verifies, so a caller breaking this reads back as corrupt, never as
  // wrong bytes). Everything else as Put; by default, Put.
  virtual absl::StatusOr<PutOutcome> PutChecked(Block block, int64_t swap_ttl_ms) {
    return Put(std::move(block), swap_ttl_ms);
  }

  // The block, from the fastest tier holding it. NOT_FOUND when absent,
  // expired, corrupt (dropped and counted) or another tenant's.
  virtual absl::StatusOr<Block> Get(const BlockKey& key) = 0;

  // How many leading ids of a prefix chain are present for (tenant, shard,
  // dtype).
  virtual absl::StatusOr<int64_t> Lookup(const std::string& tenant, const KvShard& shard,
                                         DType dtype,
                                         absl::Span<const std::string> logical_ids) = 0;

  // Deletes these blocks; absent ones are skipped. Returns how many existed.
  virtual absl::StatusOr<int64_t> Delete(absl::Span<const BlockKey> keys) = 0;

  // Deletes every swap block of (tenant, seq_id), all shards and dtypes.
  virtual absl::StatusOr<int64_t> DeleteSwapSequence(const std::string& tenant,
                                                     const std::string& seq_id) = 0;

  virtual StoreStats Stats() = 0;

  // Fixed for the store's life; by default nothing is promised.
  virtual BlockStoreTraits traits() const { return BlockStoreTraits(); }
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_BLOCK_STORE_H_
