// Reading a disk-tier segment file back: the file names of segments and a
// scanner that walks a segment's bytes record by record, reporting intact
// records and skipping torn or corrupt ones (resynchronising on the next
// valid header). Used by DiskTier::Open to rebuild its index. Pure
// functions: thread-safe. Format: docs/formats/kvstore-disk.md.
#ifndef GQA_KVSTORE_STORE_SEGMENT_SCAN_H_
#define GQA_KVSTORE_STORE_SEGMENT_SCAN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "kvstore/store/block.h"
#include "kvstore/store/record_format.h"

namespace gqa::kvstore {

// "seg-<16 hex digits of id>-<prefix|swap>.gqkv": a segment holds records of
// one stream (prefix blocks, or swap blocks) and ids grow with age.
std::string SegmentFileName(uint64_t id, BlockKind stream);

struct SegmentName {
  uint64_t id = 0;
  BlockKind stream = BlockKind::kPrefix;
};
// The inverse; nullopt for any other file name.
std::optional<SegmentName> ParseSegmentFileName(absl::string_view name);

struct ScanResult {
  int64_t num_records = 0;  // intact records visited
  // Torn or corrupt stretches skipped: one per record that failed its
  // checksum, one per run of bytes that held no valid header, one for a torn
  // tail.
  int64_t num_corrupt = 0;
};

// Visits every intact record of `segment` in file order with its offset, its
// parsed header and its payload bytes (a view into `segment`).
ScanResult ScanSegment(
    absl::string_view segment,
    absl::FunctionRef<void(int64_t offset, const RecordHeader& header, absl::string_view payload)>
        visit);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_SEGMENT_SCAN_H_
