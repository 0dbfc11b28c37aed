#include "kvstore/store/fp8_transcode.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/crc32c.h"
#include "core/fp8.h"
#include "core/half.h"
#include "gtest/gtest.h"
#include "kvstore/store/block_layout.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

const BlockLayout kLayout{3, 5, 16};  // 3 layers, 5 tokens, head_dim 16
constexpr int32_t kHeads = 2;

// Rows of f32 values with the cases that matter for per-row scales: normal
// rows, rows with one huge outlier, all-zero rows, tiny rows, mixed signs.
std::vector<float> TestValues() {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = NumRows(kLayout, kHeads);
  std::vector<float> values(static_cast<size_t>(rows * kLayout.head_dim));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = values.data() + r * kLayout.head_dim;
    for (int i = 0; i < kLayout.head_dim; ++i) row[i] = normal(rng);
    switch (r % 5) {
      case 1:
        row[r % kLayout.head_dim] = 3000.0f;  // an outlier
        break;
      case 2:
        for (int i = 0; i < kLayout.head_dim; ++i) row[i] = 0.0f;
        break;
      case 3:
        for (int i = 0; i < kLayout.head_dim; ++i) row[i] *= 1e-6f;
        break;
      default:
        break;
    }
  }
  return values;
}

std::string EncodeAs(const std::vector<float>& values, DType dtype) {
  if (dtype == DType::kF32) {
    return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  }
  std::vector<uint16_t> bits(values.size());
  if (dtype == DType::kF16) {
    EncodeF16(values, absl::MakeSpan(bits));
  } else {
    EncodeBf16(values, absl::MakeSpan(bits));
  }
  return std::string(reinterpret_cast<const char*>(bits.data()), bits.size() * 2);
}

std::vector<float> DecodeAs(absl::string_view payload, DType dtype) {
  const size_t n = payload.size() / static_cast<size_t>(DTypeSize(dtype));
  std::vector<float> out(n);
  if (dtype == DType::kF32) {
    std::memcpy(out.data(), payload.data(), n * 4);
    return out;
  }
  std::vector<uint16_t> bits(n);
  std::memcpy(bits.data(), payload.data(), n * 2);
  if (dtype == DType::kF16) {
    DecodeF16(bits, absl::MakeSpan(out));
  } else {
    DecodeBf16(bits, absl::MakeSpan(out));
  }
  return out;
}

float ScaleOfRow(const std::string& fp8_payload, DType fp8, int64_t row) {
  float scale;
  std::memcpy(&scale,
              fp8_payload.data() + ElementBytes(kLayout, kHeads, fp8) + row * kFp8ScaleBytes, 4);
  return scale;
}

// The bound of docs/kv-cache.md: |x - x'| <= 2^-(m+1) max(|x|, 2^emin s) (1 + 2^-18),
// m mantissa bits, 2^emin the smallest normal: E4M3 m = 3, emin = -6; E5M2 m = 2, emin = -14.
double Bound(DType fp8, double x, double scale) {
  const double rel = fp8 == DType::kFp8E4M3 ? 0x1p-4 : 0x1p-3;
  const double min_normal = fp8 == DType::kFp8E4M3 ? 0x1p-6 : 0x1p-14;
  return rel * std::max(std::fabs(x), min_normal * scale) * (1.0 + 0x1p-18);
}

class Fp8TranscodeTest : public ::testing::TestWithParam<std::tuple<DType, DType>> {};

TEST_P(Fp8TranscodeTest, RoundTripStaysWithinTheFormatsBound) {
  const auto [from, fp8] = GetParam();
  // The source values as the source dtype holds them.
  const std::string source = EncodeAs(TestValues(), from);
  const std::vector<float> x = DecodeAs(source, from);

  absl::StatusOr<std::string> quantized = QuantizePayloadToFp8(source, kLayout, kHeads, from, fp8);
  ASSERT_TRUE(quantized.ok()) << quantized.status();
  EXPECT_EQ(static_cast<int64_t>(quantized->size()), *PayloadBytes(kLayout, kHeads, fp8));
  absl::StatusOr<std::string> back =
      DequantizePayloadFromFp8(*quantized, kLayout, kHeads, fp8, DType::kF32);
  ASSERT_TRUE(back.ok()) << back.status();
  const std::vector<float> x2 = DecodeAs(*back, DType::kF32);
  ASSERT_EQ(x2.size(), x.size());

  const int64_t rows = NumRows(kLayout, kHeads);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x.data() + r * kLayout.head_dim;
    const float scale = ScaleOfRow(*quantized, fp8, r);
    float amax = 0;
    for (int i = 0; i < kLayout.head_dim; ++i) amax = std::max(amax, std::fabs(row[i]));
    if (amax == 0) {
      EXPECT_EQ(scale, 1.0f) << "row " << r;  // all-zero rows
    } else {
      // amax / max_finite, nudged up by at most a few ulps, so amax / scale <= max.
      const float ideal = amax / Fp8MaxFinite(fp8);
      EXPECT_GE(scale, ideal) << "row " << r;
      EXPECT_LE(scale, ideal * (1 + 1e-6f)) << "row " << r;
    }
    for (int i = 0; i < kLayout.head_dim; ++i) {
      const size_t k = static_cast<size_t>(r * kLayout.head_dim + i);
      const double err = std::fabs(static_cast<double>(x[k]) - x2[k]);
      ASSERT_LE(err, Bound(fp8, x[k], scale))
          << "row " << r << " elem " << i << " x=" << x[k] << " x'=" << x2[k] << " scale=" << scale;
      if (x[k] == 0.0f) {
        EXPECT_EQ(x2[k], 0.0f);
      }
      worst = std::max(worst, err / std::max(std::fabs(static_cast<double>(x[k])), 1e-30));
    }
  }
  // The bound is tight: rounding reaches close to half a step somewhere.
  EXPECT_GT(worst, (fp8 == DType::kFp8E4M3 ? 0x1p-4 : 0x1p-3) * 0.7);

  // Back to the source dtype adds that dtype's own rounding (half an ulp).
  back = DequantizePayloadFromFp8(*quantized, kLayout, kHeads, fp8, from);
  ASSERT_TRUE(back.ok());
  const std::vector<float> x3 = DecodeAs(*back, from);
  const double narrow = from == DType::kBF16 ? 0x1p-8 : from == DType::kF16 ? 0x1p-11 : 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const int64_t r = static_cast<int64_t>(k) / kLayout.head_dim;
    const double tolerance = Bound(fp8, x[k], ScaleOfRow(*quantized, fp8, r)) * (1 + narrow) +
                             narrow * std::fabs(x[k]) +
                             (from == DType::kF16 ? 0x1p-25 : 0.0);  // f16 subnormal steps
    ASSERT_LE(std::fabs(static_cast<double>(x[k]) - x3[k]), tolerance) << k;
  }
}

INSTANTIATE_TEST_SUITE_P(AllSources, Fp8TranscodeTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16,
                                                              DType::kBF16),
                                            ::testing::Values(DType::kFp8E4M3, DType::kFp8E5M2)));

TEST(Fp8TranscodeSingleTest, SaturatesInsteadOfProducingNan) {
  std::vector<float> values(static_cast<size_t>(NumRows(kLayout, kHeads) * kLayout.head_dim), 1.0f);
  values[3] = std::numeric_limits<float>::infinity();  // row 0
  const std::string source = EncodeAs(values, DType::kF16);
  absl::StatusOr<std::string> quantized =
      QuantizePayloadToFp8(source, kLayout, kHeads, DType::kF16, DType::kFp8E4M3);
  ASSERT_TRUE(quantized.ok());
  EXPECT_EQ(ScaleOfRow(*quantized, DType::kFp8E4M3, 0), 1.0f);  // no finite scale fits
  EXPECT_EQ(static_cast<uint8_t>((*quantized)[3]), 0x7E);       // +448, not NaN
  EXPECT_EQ(ScaleOfRow(*quantized, DType::kFp8E4M3, 1),
            Fp8ScaleFor(std::vector<float>(kLayout.head_dim, 1.0f), DType::kFp8E4M3));
}

TEST(Fp8TranscodeSingleTest, TranscodesBlocksAndRejectsWrongInputs) {
  const Block block =
      testing::MakeBlock(testing::PrefixKey("t", 1, {0, kHeads}, DType::kBF16), kLayout, 0);
  Block bf16 = block;
  bf16.payload = EncodeAs(TestValues(), DType::kBF16);
  bf16.payload_crc32c = crc32c::Value(bf16.payload);
  absl::StatusOr<Block> fp8 = TranscodeBlock(bf16, DType::kFp8E4M3);
  ASSERT_TRUE(fp8.ok()) << fp8.status();
  EXPECT_EQ(fp8->key.dtype, DType::kFp8E4M3);
  EXPECT_TRUE(ValidateBlock(*fp8).ok());
  EXPECT_EQ(fp8->payload_crc32c, crc32c::Value(fp8->payload));
  absl::StatusOr<Block> again = TranscodeBlock(*fp8, DType::kBF16);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(ValidateBlock(*again).ok());
  EXPECT_EQ(TranscodeBlock(bf16, DType::kF16).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      QuantizePayloadToFp8("short", kLayout, kHeads, DType::kF16, DType::kFp8E4M3).status().code(),
      absl::StatusCode::kInvalidArgument);
  std::string bad_scale = fp8->payload;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(bad_scale.data() + ElementBytes(kLayout, kHeads, DType::kFp8E4M3), &nan, 4);
  EXPECT_EQ(DequantizePayloadFromFp8(bad_scale, kLayout, kHeads, DType::kFp8E4M3, DType::kF32)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa::kvstore
