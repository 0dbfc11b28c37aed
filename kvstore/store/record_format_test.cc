#include "kvstore/store/record_format.h"

#include "gtest/gtest.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/segment_scan.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

TEST(RecordFormatTest, BlockRecordRoundTrips) {
  const Block block = MakeBlock(SwapKey("t", "s", 3), 11);
  const std::string record = EncodeBlockRecord(block, 12345);
  EXPECT_EQ(static_cast<int64_t>(record.size()),
            RecordBytes(block.key, static_cast<int64_t>(block.payload.size())));
  EXPECT_EQ(record.substr(0, 4), "GQKV");
  absl::StatusOr<DecodedRecord> decoded = DecodeBlockRecord(record);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->expiry_unix_ns, 12345);
  EXPECT_EQ(decoded->block.key, block.key);
  EXPECT_EQ(decoded->block.layout, block.layout);
  EXPECT_EQ(decoded->block.payload, block.payload);
  EXPECT_EQ(decoded->block.payload_crc32c, block.payload_crc32c);
}

TEST(RecordFormatTest, EveryFlippedByteIsDetected) {
  const Block block = MakeBlock(PrefixKey("t", 1), 5);
  const std::string record = EncodeBlockRecord(block, 0);
  for (size_t i = 0; i < record.size(); ++i) {
    std::string bad = record;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeBlockRecord(bad).ok()) << "byte " << i;
  }
  EXPECT_FALSE(DecodeBlockRecord(record.substr(0, record.size() - 1)).ok());
  EXPECT_FALSE(DecodeBlockRecord(record + "x").ok());
}

TEST(RecordFormatTest, HeaderParseTellsTornFromCorrupt) {
  const std::string record = EncodeBlockRecord(MakeBlock(PrefixKey("t", 1), 5), 0);
  RecordHeader header;
  ASSERT_EQ(ParseRecordHeader(record, &header), HeaderParse::kOk);
  EXPECT_EQ(header.record_bytes(), static_cast<int64_t>(record.size()));
  EXPECT_EQ(ParseRecordHeader(record.substr(0, 2), &header), HeaderParse::kTruncated);
  EXPECT_EQ(ParseRecordHeader(record.substr(0, 30), &header), HeaderParse::kTruncated);
  EXPECT_EQ(ParseRecordHeader(record.substr(0, 60), &header), HeaderParse::kTruncated);
  EXPECT_EQ(ParseRecordHeader("XQKV" + record.substr(4), &header), HeaderParse::kCorrupt);
  std::string bad_key = record;
  bad_key[50] ^= 1;  // inside the key: the header CRC catches it
  EXPECT_EQ(ParseRecordHeader(bad_key, &header), HeaderParse::kCorrupt);
}

std::string ThreeRecords(std::vector<int64_t>* offsets) {
  std::string segment;
  for (int i = 0; i < 3; ++i) {
    offsets->push_back(static_cast<int64_t>(segment.size()));
    segment += EncodeBlockRecord(MakeBlock(PrefixKey("t", i), static_cast<uint64_t>(i)), 0);
  }
  return segment;
}

TEST(SegmentScanTest, VisitsIntactRecordsAndSkipsDamage) {
  std::vector<int64_t> offsets;
  const std::string segment = ThreeRecords(&offsets);
  std::vector<int64_t> seen;
  auto collect = [&](int64_t offset, const RecordHeader&, absl::string_view) {
    seen.push_back(offset);
  };
  ScanResult result = ScanSegment(segment, collect);
  EXPECT_EQ(result.num_records, 3);
  EXPECT_EQ(result.num_corrupt, 0);
  EXPECT_EQ(seen, offsets);

  // A torn tail: the last record cut anywhere.
  for (size_t cut : {size_t{1}, size_t{10}, size_t{60}, size_t{200}}) {
    seen.clear();
    result = ScanSegment(segment.substr(0, segment.size() - cut), collect);
    EXPECT_EQ(result.num_records, 2) << cut;
    EXPECT_EQ(result.num_corrupt, 1) << cut;
  }

  // A flipped payload byte in the middle record: skipped by its trusted length.
  std::string bad_payload = segment;
  bad_payload[static_cast<size_t>(offsets[1]) + 150] ^= 1;
  seen.clear();
  result = ScanSegment(bad_payload, collect);
  EXPECT_EQ(result.num_corrupt, 1);
  EXPECT_EQ(seen, (std::vector<int64_t>{offsets[0], offsets[2]}));

  // A flipped length in the middle record's header: resynchronised on the next magic.
  std::string bad_header = segment;
  bad_header[static_cast<size_t>(offsets[1]) + 9] ^= 1;
  seen.clear();
  result = ScanSegment(bad_header, collect);
  EXPECT_EQ(result.num_corrupt, 1);
  EXPECT_EQ(seen, (std::vector<int64_t>{offsets[0], offsets[2]}));

  // Garbage at the front.
  seen.clear();
  result = ScanSegment("garbage!" + segment, collect);
  EXPECT_EQ(result.num_records, 3);
  EXPECT_EQ(result.num_corrupt, 1);
}

TEST(SegmentScanTest, FileNamesRoundTrip) {
  EXPECT_EQ(SegmentFileName(0x2a, BlockKind::kSwap), "seg-000000000000002a-swap.gqkv");
  auto parsed = ParseSegmentFileName("seg-000000000000002a-swap.gqkv");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->id, 0x2au);
  EXPECT_EQ(parsed->stream, BlockKind::kSwap);
  parsed = ParseSegmentFileName(SegmentFileName(7, BlockKind::kPrefix));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->stream, BlockKind::kPrefix);
  EXPECT_FALSE(ParseSegmentFileName("seg-2a-swap.gqkv").has_value());
  EXPECT_FALSE(ParseSegmentFileName("notes.txt").has_value());
  EXPECT_FALSE(ParseSegmentFileName("seg-000000000000002a-other.gqkv").has_value());
}

}  // namespace
}  // namespace gqa::kvstore
