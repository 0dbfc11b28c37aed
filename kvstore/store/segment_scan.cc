#include "kvstore/store/segment_scan.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "kvstore/store/block_key_codec.h"

namespace gqa::kvstore {

std::string SegmentFileName(uint64_t id, BlockKind stream) {
  return absl::StrFormat("seg-%016x-%s.gqkv", id, stream == BlockKind::kPrefix ? "prefix" : "swap");
}

std::optional<SegmentName> ParseSegmentFileName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "seg-") || !absl::ConsumeSuffix(&name, ".gqkv")) {
    return std::nullopt;
  }
  SegmentName out;
  if (absl::ConsumeSuffix(&name, "-prefix")) {
    out.stream = BlockKind::kPrefix;
  } else if (absl::ConsumeSuffix(&name, "-swap")) {
    out.stream = BlockKind::kSwap;
  } else {
    return std::nullopt;
  }
  if (name.size() != 16 || !absl::SimpleHexAtoi(name, &out.id)) return std::nullopt;
  return out;
}

ScanResult ScanSegment(
    absl::string_view segment,
    absl::FunctionRef<void(int64_t offset, const RecordHeader& header, absl::string_view payload)>
        visit) {
  ScanResult result;
  size_t offset = 0;
  bool in_garbage = false;  // inside a run of bytes with no valid header
  while (offset < segment.size()) {
    RecordHeader header;
    const absl::string_view rest = segment.substr(offset);
    const HeaderParse parse = ParseRecordHeader(rest, &header);
    if (parse == HeaderParse::kCorrupt) {
      // Resynchronise: try the next byte as a record start.
      if (!in_garbage) ++result.num_corrupt;
      in_garbage = true;
      ++offset;
      continue;
    }
    if (parse == HeaderParse::kTruncated ||
        header.record_bytes() > static_cast<int64_t>(rest.size())) {
      if (!in_garbage) ++result.num_corrupt;  // a torn tail
      break;
    }
    in_garbage = false;
    const size_t record_bytes = static_cast<size_t>(header.record_bytes());
    const size_t crc_at = record_bytes - 4;
    const absl::string_view head = rest.substr(0, static_cast<size_t>(header.header_bytes()));
    const absl::string_view payload =
        rest.substr(head.size(), static_cast<size_t>(header.payload_bytes));
    if (RecordCrc(head, payload) != GetFixed32(rest.data() + crc_at)) {
      ++result.num_corrupt;  // its header is intact, so its length can be trusted
    } else {
      ++result.num_records;
      visit(static_cast<int64_t>(offset), header, payload);
    }
    offset += record_bytes;
  }
  return result;
}

}  // namespace gqa::kvstore
