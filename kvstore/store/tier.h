// Tier: one storage level of the TieredBlockStore (memory, disk, Redis). The
// store validates and checksums blocks before a tier sees them, walks the
// tiers fastest first, and keeps a swap block in exactly one tier; prefix
// blocks may sit in several (a promoted copy). Implementations are
// thread-safe; the store serialises writes across tiers (tiered_block_store.h).
#ifndef GQA_KVSTORE_STORE_TIER_H_
#define GQA_KVSTORE_STORE_TIER_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvstore/store/block.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

// Blocks are immutable once stored; tiers share them instead of copying.
using BlockRef = std::shared_ptr<const Block>;

// The counters every tier keeps, updated and read without the tier's lock.
struct TierCounters {
  std::atomic<int64_t> hits{0};
  std::atomic<int64_t> evictions{0};
  std::atomic<int64_t> corrupt_dropped{0};
  std::atomic<int64_t> expired{0};

  // Copies hits, evictions and corrupt_dropped into `stats`.
  void FillStats(TierStats& stats) const {
    stats.num_hits = hits.load();
    stats.num_evictions = evictions.load();
    stats.num_corrupt_dropped = corrupt_dropped.load();
  }
};

class Tier {
 public:
  virtual ~Tier() = default;

  virtual TierKind kind() const = 0;

  // Stores `block`. expiry_ns: for a swap block the Env::NowNanos() time at
  // which it expires; 0 for a prefix block. A prefix key already held:
  // kAlreadyPresent, the held block kept. A swap key already held: replaced.
  // RESOURCE_EXHAUSTED when it does not fit without evicting what may not be
  // evicted (this tier is then unchanged but for what it evicted);
  // UNAVAILABLE when the backing storage fails.
  virtual absl::StatusOr<PutOutcome> Put(BlockRef block, int64_t expiry_ns) = 0;

  // The block, its checksum verified. NOT_FOUND when absent, expired
  // (dropped and counted) or corrupt (dropped and counted);
  // UNAVAILABLE when the backing storage fails.
  virtual absl::StatusOr<Block> Get(const BlockKey& key) = 0;

  // Whether the key is held and not expired (no checksum read).
  virtual absl::StatusOr<bool> Contains(const BlockKey& key) = 0;

  // Deletes the key; returns whether it was held.
  virtual absl::StatusOr<bool> Delete(const BlockKey& key) = 0;

  // Deletes every swap block of (tenant, seq_id); returns how many were held.
  virtual absl::StatusOr<int64_t> DeleteSwapSequence(absl::string_view tenant,
                                                     absl::string_view seq_id) = 0;

  // Drops every swap block whose expiry has passed; returns how many.
  virtual int64_t SweepExpired() = 0;

  // Occupancy and counters (kvstore.proto TierStats).
  virtual TierStats Stats() = 0;

  // Swap blocks this tier dropped because their TTL passed, since start.
  virtual int64_t num_expired_swap_blocks() = 0;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_TIER_H_
