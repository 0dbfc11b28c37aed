#include "worker/backend/cpu/dot_kernels.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "gtest/gtest.h"

namespace gqa::cpu {
namespace {

void PutHalf(uint8_t* p, float value) {
  const uint16_t bits = FloatToHalf(value);
  std::memcpy(p, &bits, 2);
}

// Builds one stored row of `format` from random values (test-local quantizers
// following the ggml block layouts).
std::vector<uint8_t> MakeRow(WeightFormat format, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> row(RowBytes(format, n));
  if (format == WeightFormat::kF32) {
    std::memcpy(row.data(), x.data(), 4 * n);
    return row;
  }
  if (format == WeightFormat::kF16 || format == WeightFormat::kBF16) {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t bits = format == WeightFormat::kF16 ? FloatToHalf(x[i]) : FloatToBf16(x[i]);
      std::memcpy(row.data() + 2 * i, &bits, 2);
    }
    return row;
  }
  for (int64_t b = 0; b < n / 32; ++b) {
    uint8_t* block = row.data() + b * BlockBytes(format);
    const float* v = x.data() + b * 32;
    float lo = v[0], hi = v[0], amax = 0;
    for (int i = 0; i < 32; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
      amax = std::max(amax, std::fabs(v[i]));
    }
    if (format == WeightFormat::kQ8_0) {
      const float d = amax / 127;
      PutHalf(block, d);
      for (int i = 0; i < 32; ++i) {
        block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(v[i] / d)));
      }
    } else if (format == WeightFormat::kQ4_0) {
      const float d = amax / 8;
      PutHalf(block, d);
      for (int i = 0; i < 16; ++i) {
        auto q = [&](float value) { return std::clamp<int>(std::lround(value / d) + 8, 0, 15); };
        block[2 + i] = static_cast<uint8_t>(q(v[i]) | (q(v[i + 16]) << 4));
      }
    } else {
      const float d = (hi - lo) / 15;
      PutHalf(block, d);
      PutHalf(block + 2, lo);
      for (int i = 0; i < 16; ++i) {
        auto q = [&](float value) { return std::clamp<int>(std::lround((value - lo) / d), 0, 15); };
        block[4 + i] = static_cast<uint8_t>(q(v[i]) | (q(v[i + 16]) << 4));
      }
    }
  }
  return row;
}

class DotTest : public ::testing::TestWithParam<WeightFormat> {};

TEST_P(DotTest, KernelsAgreeWithDequantizedReference) {
  const WeightFormat format = GetParam();
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t n : {32, 64, 576, 1536}) {
    std::vector<float> w(n), x(n);
    for (auto& value : w) value = dist(rng);
    for (auto& value : x) value = dist(rng);
    const auto row = MakeRow(format, w);
    std::vector<ActivationBlock> xq(n / 32);
    QuantizeActivations(x.data(), n, xq.data());
    // Reference in double over the values the kernel actually multiplies.
    std::vector<float> w_deq(n);
    DequantizeRow(format, row.data(), n, w_deq.data());
    double reference = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double xi = UsesQuantizedActivations(format) ? xq[i / 32].scale * xq[i / 32].qs[i % 32]
                                                         : x[i];
      reference += static_cast<double>(w_deq[i]) * xi;
    }
    const float scalar = internal::DotRowScalar(format, row.data(), x.data(), xq.data(), n);
    const double tolerance = 1e-5 * n;
    EXPECT_NEAR(scalar, reference, tolerance) << WeightFormatName(format) << " n=" << n;
    if (internal::CpuHasAvx2Fma()) {
      const float avx2 = internal::DotRowAvx2(format, row.data(), x.data(), xq.data(), n);
      EXPECT_NEAR(avx2, reference, tolerance) << WeightFormatName(format) << " n=" << n;
    }
    // Deterministic: the same call gives the same bits.
    EXPECT_EQ(DotRow(format, row.data(), x.data(), xq.data(), n),
              DotRow(format, row.data(), x.data(), xq.data(), n));
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, DotTest,
                         ::testing::Values(WeightFormat::kF32, WeightFormat::kF16,
                                           WeightFormat::kBF16, WeightFormat::kQ8_0,
                                           WeightFormat::kQ4_0, WeightFormat::kQ4_1));

TEST(QuantizeActivationsTest, ErrorWithinHalfAStep) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = std::sin(0.37f * i) * (i + 1);
  std::vector<ActivationBlock> xq(2);
  QuantizeActivations(x.data(), 64, xq.data());
  for (int i = 0; i < 64; ++i) {
    const ActivationBlock& block = xq[i / 32];
    EXPECT_LE(std::fabs(block.scale * block.qs[i % 32] - x[i]), 0.5f * block.scale + 1e-6f);
  }
  int32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum += xq[0].qs[i];
  EXPECT_EQ(sum, xq[0].sum);
}

TEST(QuantizeActivationsTest, Avx2MatchesScalarBitForBit) {
  if (!internal::CpuHasAvx2Fma()) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  constexpr int64_t kBlocks = 64;
  std::vector<float> x(kBlocks * 32);
  for (auto& v : x) v = dist(rng);
  // Ties: a block whose values land exactly halfway between steps
  // (amax 127 makes the step 1), a zero block and a negative-zero block.
  for (int i = 0; i < 32; ++i) x[32 + i] = i == 0 ? 127.0f : (i % 2 ? 2.5f : -3.5f);
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;
  for (int i = 0; i < 32; ++i) x[96 + i] = -0.0f;
  std::vector<ActivationBlock> scalar(kBlocks), avx2(kBlocks);
  internal::QuantizeActivationsScalar(x.data(), kBlocks * 32, scalar.data());
  internal::QuantizeActivationsAvx2(x.data(), kBlocks * 32, avx2.data());
  for (int64_t b = 0; b < kBlocks; ++b) {
    EXPECT_EQ(std::memcmp(&scalar[b].scale, &avx2[b].scale, 4), 0) << "block " << b;
    EXPECT_EQ(scalar[b].sum, avx2[b].sum) << "block " << b;
    EXPECT_EQ(std::memcmp(scalar[b].qs, avx2[b].qs, 32), 0) << "block " << b;
  }
  EXPECT_EQ(avx2[1].qs[1], 2);   // 2.5 rounds to even
  EXPECT_EQ(avx2[1].qs[2], -4);  // -3.5 rounds to even
}

TEST(QuantizeActivationsTest, ZeroBlockIsExact) {
  std::vector<float> x(32, 0.0f);
  ActivationBlock block;
  QuantizeActivations(x.data(), 32, &block);
  EXPECT_EQ(block.scale, 0.0f);
  EXPECT_EQ(block.sum, 0);
}

TEST(DequantizeRowTest, Q4_1Layout) {
  // d = 0.5, m = -1: element i (low nibble of byte i) = q * 0.5 - 1.
  std::vector<uint8_t> row(20);
  PutHalf(row.data(), 0.5f);
  PutHalf(row.data() + 2, -1.0f);
  for (int i = 0; i < 16; ++i) row[4 + i] = static_cast<uint8_t>(i | ((15 - i) << 4));
  std::vector<float> out(32);
  DequantizeRow(WeightFormat::kQ4_1, row.data(), 32, out.data());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(out[i], 0.5f * i - 1.0f);
    EXPECT_EQ(out[i + 16], 0.5f * (15 - i) - 1.0f);
  }
}

}  // namespace
}  // namespace gqa::cpu
