// DiskTier: blocks in append-only segment files in one directory, for a store
// that survives restarts. Every record carries CRC-32Cs (record_format.h) and
// is verified on every read; a record joins the in-memory index only once it
// is completely written, and Open() rebuilds the index by scanning the
// segments, skipping (and counting) torn and corrupt records.
//
// Two streams of segments, prefix and swap, so that swap blocks never pin
// prefix space. Under its byte budget the tier reclaims whole segments:
// first segments with nothing live, then prefix segments oldest first (their
// live prefix blocks are evicted and counted); a segment holding a live swap
// block is never reclaimed. Deletes append tombstones so a restart does not
// bring deleted blocks back. Design and format: docs/formats/kvstore-disk.md.
//
// A full disk (ENOSPC, or the budget with nothing reclaimable) fails Put with
// RESOURCE_EXHAUSTED while Gets go on; the next Put tries again. Thread-safe.
#ifndef GQA_KVSTORE_STORE_DISK_TIER_H_
#define GQA_KVSTORE_STORE_DISK_TIER_H_

#include <atomic>
#include <cstdint>
#include <map>
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
#include "kvstore/store/record_format.h"
#include "kvstore/store/tier.h"

namespace gqa::kvstore {

struct DiskTierOptions {
  // Files and clocks. Borrowed; required.
  Env* env = nullptr;
  // The directory of segment files; created when missing. Required.
  std::string dir;
  // Budget for all segment files together, in bytes. Required, > 0.
  int64_t capacity_bytes = 0;
  // A segment is sealed and a new one started once it reaches this size;
  // capped at capacity_bytes / 4 so reclamation frees space in steps.
  // Default 64 MiB.
  int64_t segment_bytes = int64_t{64} << 20;
  // fdatasync after every record: survives power loss, not just a crash of
  // the process (which loses nothing once write() returned). Default false.
  bool sync_writes = false;
};

class DiskTier : public Tier {
 public:
  // Opens (creating) the directory and rebuilds the index from its segments.
  // Fails when the directory cannot be created or listed; unreadable
  // segments are logged, counted as corrupt and skipped.
  static absl::StatusOr<std::unique_ptr<DiskTier>> Open(DiskTierOptions options);
  ~DiskTier() override;
  DiskTier(const DiskTier&) = delete;
  DiskTier& operator=(const DiskTier&) = delete;

  TierKind kind() const override { return TierKind::kDisk; }
  absl::StatusOr<PutOutcome> Put(BlockRef block, int64_t expiry_ns) override;
  absl::StatusOr<Block> Get(const BlockKey& key) override;
  absl::StatusOr<bool> Contains(const BlockKey& key) override;
  absl::StatusOr<bool> Delete(const BlockKey& key) override;
  absl::StatusOr<int64_t> DeleteSwapSequence(absl::string_view tenant,
                                             absl::string_view seq_id) override;
  int64_t SweepExpired() override;
  TierStats Stats() override;
  int64_t num_expired_swap_blocks() override { return counters_.expired.load(); }

  // Segment files now, and the path of the one holding `key` ("" if none).
  int64_t NumSegmentsForTesting();
  std::string SegmentPathForTesting(const BlockKey& key);

 private:
  struct IndexEntry {
    uint64_t segment_id = 0;
    int64_t offset = 0;
    int64_t header_bytes = 0;
    int64_t record_bytes = 0;
    BlockKind kind = BlockKind::kPrefix;
    int64_t expiry_ns = 0;  // Env::NowNanos() time; 0: none
  };
  struct Segment {
    uint64_t id = 0;
    BlockKind stream = BlockKind::kPrefix;
    std::string path;
    int64_t size_bytes = 0;
    int64_t num_records = 0;  // intact block and tombstone records
    int64_t num_live = 0;     // block records the index points at
    // (key, offset) of every block record, to unindex them when dropped.
    std::vector<std::pair<std::string, int64_t>> block_records;
    // Tombstones here must outlive older copies of their keys: target
    // segment id -> expiry_ns of the deleted record (0: none). A pin holds
    // while the target segment exists and the expiry has not passed.
    absl::flat_hash_map<uint64_t, int64_t> pins;
    std::shared_ptr<RandomAccessFile> reader;
    std::unique_ptr<AppendableFile> writer;  // the stream's active segment only
  };
  using Index = absl::btree_map<std::string, IndexEntry>;

  explicit DiskTier(DiskTierOptions options);
  absl::Status LoadSegments() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyScannedRecord(Segment& segment, int64_t offset, const RecordHeader& header,
                          int64_t now_ns, int64_t now_unix_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  int64_t ToUnixNs(int64_t expiry_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsPinned(const Segment& segment, int64_t now_ns) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsReclaimable(const Segment& segment, int64_t now_ns) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reclaims segments until `record_bytes` more fit the budget, or fails
  // RESOURCE_EXHAUSTED having reclaimed nothing.
  absl::Status EnsureRoomLocked(int64_t record_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropSegmentLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Segment*> ActiveSegmentLocked(BlockKind stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends one record (header, payload, trailer) to the stream's active
  // segment; returns where it went. On failure the segment is sealed.
  absl::StatusOr<std::pair<Segment*, int64_t>> AppendLocked(BlockKind stream,
                                                            absl::string_view header,
                                                            absl::string_view payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unindexes `it` (not counted anywhere).
  void UnindexLocked(Index::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unindexes `it` and appends a tombstone pinned to its segment.
  void DeleteLocked(Index::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ExpireIfDueLocked(Index::iterator it, int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t SweepLocked(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops a record that failed verification, if the index still points at it.
  void DropCorruptLocked(const std::string& key, const IndexEntry& seen)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const env_;
  const std::string dir_;
  const int64_t capacity_bytes_;
  const int64_t segment_bytes_;
  const bool sync_writes_;

  absl::Mutex mu_;
  Index index_ ABSL_GUARDED_BY(mu_);                                            // by EncodeBlockKey
  std::map<uint64_t, std::unique_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);  // by age
  uint64_t active_prefix_ ABSL_GUARDED_BY(mu_) = 0;  // segment ids; 0: none
  uint64_t active_swap_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_segment_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_prefix_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_swap_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  absl::btree_set<std::pair<int64_t, std::string>> expiries_ ABSL_GUARDED_BY(mu_);

  TierCounters counters_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_DISK_TIER_H_
