#include "kvstore/store/block_layout.h"

#include "gtest/gtest.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::PrefixKey;
using testing::SwapKey;

TEST(BlockLayoutTest, PayloadBytesFollowTheFormula) {
  // SmolLM2-135M, one rank of tp 1: 30 layers, 3 KV heads, 16 tokens, head_dim 64.
  const BlockLayout smol{30, 16, 64};
  EXPECT_EQ(*PayloadBytes(smol, 3, DType::kF32), 30 * 3 * 2 * 16 * 64 * 4);
  EXPECT_EQ(*PayloadBytes(smol, 3, DType::kF16), 368640);
  EXPECT_EQ(*PayloadBytes(smol, 3, DType::kBF16), 368640);
  // FP8: one byte per element plus a 4-byte scale per row.
  EXPECT_EQ(*PayloadBytes(smol, 3, DType::kFp8E4M3), 30 * 3 * 2 * 16 * (64 + 4));
  EXPECT_EQ(*PayloadBytes(smol, 3, DType::kFp8E5M2), 195840);
  EXPECT_EQ(ElementBytes(smol, 3, DType::kFp8E4M3), 30 * 3 * 2 * 16 * 64);
  EXPECT_EQ(NumRows(smol, 3), 30 * 3 * 2 * 16);
}

TEST(BlockLayoutTest, RejectsEmptyAndHugeLayouts) {
  EXPECT_EQ(PayloadBytes({0, 16, 64}, 3, DType::kF16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PayloadBytes({30, 16, 64}, 0, DType::kF16).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PayloadBytes({1 << 30, 1 << 30, 1 << 30}, 1 << 30, DType::kF32).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BlockLayoutTest, RowIndexIsRowMajor) {
  const BlockLayout layout{2, 4, 8};
  EXPECT_EQ(RowIndex(layout, 3, 0, 0, 0, 0), 0);
  EXPECT_EQ(RowIndex(layout, 3, 0, 0, 0, 3), 3);
  EXPECT_EQ(RowIndex(layout, 3, 0, 0, 1, 0), 4);   // V after K
  EXPECT_EQ(RowIndex(layout, 3, 0, 1, 0, 0), 8);   // next head
  EXPECT_EQ(RowIndex(layout, 3, 1, 0, 0, 0), 24);  // next layer
  EXPECT_EQ(RowIndex(layout, 3, 1, 2, 1, 3), NumRows(layout, 3) - 1);
}

TEST(BlockLayoutTest, ValidatesKeysAndBlocks) {
  EXPECT_TRUE(ValidateKey(PrefixKey("t", 1)).ok());
  EXPECT_TRUE(ValidateKey(SwapKey("t", "s", 0)).ok());
  BlockKey key = PrefixKey("", 1);
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = PrefixKey(std::string(129, 't'), 1);
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = PrefixKey("t", 1);
  key.logical_id.pop_back();
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = SwapKey("t", "", 0);
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = SwapKey("t", std::string(257, 's'), 0);
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = SwapKey("t", "s", -1);
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);
  key = SwapKey("t", "s", 0, {0, 0});
  EXPECT_EQ(ValidateKey(key).code(), absl::StatusCode::kInvalidArgument);

  Block block = testing::MakeBlock(PrefixKey("t", 1), 7);
  EXPECT_TRUE(ValidateBlock(block).ok());
  block.payload.push_back('x');
  EXPECT_EQ(ValidateBlock(block).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BlockKeyCodecTest, RoundTrips) {
  for (const BlockKey& key :
       {PrefixKey("tenant-a", 3, {2, 1}, DType::kFp8E4M3), SwapKey("t", "inst/req-7", 42, {0, 3}),
        SwapKey("t", "s", 0, {1, 2}, DType::kBF16), PrefixKey("t", 9, {0, 1}, DType::kFp8E5M2)}) {
    absl::StatusOr<BlockKey> decoded = DecodeBlockKey(EncodeBlockKey(key));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, key);
  }
}

TEST(BlockKeyCodecTest, IsUnambiguousAndTenantScoped) {
  // Moving bytes between fields changes the encoding.
  EXPECT_NE(EncodeBlockKey(SwapKey("ab", "c", 0)), EncodeBlockKey(SwapKey("a", "bc", 0)));
  EXPECT_NE(EncodeBlockKey(PrefixKey("t1", 5)), EncodeBlockKey(PrefixKey("t2", 5)));
  EXPECT_NE(EncodeBlockKey(PrefixKey("t", 5, {0, 1})), EncodeBlockKey(PrefixKey("t", 5, {1, 1})));
  EXPECT_NE(EncodeBlockKey(PrefixKey("t", 5, {0, 1}, DType::kF16)),
            EncodeBlockKey(PrefixKey("t", 5, {0, 1}, DType::kBF16)));
}

TEST(BlockKeyCodecTest, SequencePrefixMatchesExactlyOneSequence) {
  const std::string prefix = SwapSequencePrefix("t", "seq");
  EXPECT_EQ(EncodeBlockKey(SwapKey("t", "seq", 7, {2, 1})).rfind(prefix, 0), 0u);
  EXPECT_NE(EncodeBlockKey(SwapKey("t", "seq2", 0)).rfind(prefix, 0), 0u);
  EXPECT_NE(EncodeBlockKey(SwapKey("t2", "seq", 0)).rfind(prefix, 0), 0u);
  EXPECT_NE(EncodeBlockKey(PrefixKey("t", 1)).rfind(prefix, 0), 0u);
}

TEST(BlockKeyCodecTest, RejectsMalformedEncodings) {
  const std::string good = EncodeBlockKey(SwapKey("t", "s", 1));
  EXPECT_EQ(DecodeBlockKey(good.substr(0, good.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBlockKey(good + "x").status().code(), absl::StatusCode::kDataLoss);
  std::string bad_dtype = good;
  bad_dtype.back() = 9;
  EXPECT_EQ(DecodeBlockKey(bad_dtype).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeBlockKey("").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace gqa::kvstore
