#include "worker/backend/cpu/gemm.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/dot_kernels.h"

namespace gqa::cpu {
namespace {

// Random stored rows of `format`: scales are small positive halves, offsets
// (Q4_1) small signed halves, quants and float values uniform.
std::vector<uint8_t> RandomWeights(WeightFormat format, int64_t rows, int64_t cols,
                                   std::mt19937& rng) {
  std::vector<uint8_t> data(rows * RowBytes(format, cols));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto put_half = [](uint8_t* p, float value) {
    const uint16_t bits = FloatToHalf(value);
    std::memcpy(p, &bits, 2);
  };
  if (!UsesQuantizedActivations(format)) {
    const int64_t elem = format == WeightFormat::kF32 ? 4 : 2;
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float value = normal(rng);
      if (format == WeightFormat::kF32) {
        std::memcpy(data.data() + 4 * i, &value, 4);
      } else {
        const uint16_t bits =
            format == WeightFormat::kF16 ? FloatToHalf(value) : FloatToBf16(value);
        std::memcpy(data.data() + elem * i, &bits, 2);
      }
    }
    return data;
  }
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  const int64_t block_bytes = BlockBytes(format);
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    uint8_t* block = data.data() + b * block_bytes;
    put_half(block, 0.01f + 0.05f * std::fabs(normal(rng)));
    if (format == WeightFormat::kQ4_1) put_half(block + 2, 0.1f * normal(rng));
  }
  return data;
}

std::vector<float> RandomActivations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  return x;
}

class GemmTileTest : public ::testing::TestWithParam<WeightFormat> {};

// Every token's row of output is the same bits whether it runs alone, in a
// batch of any size 1..20 (whole tiles and ragged remainders), on 1 or 3
// threads, through the tiled kernel or one DotRow per (row, token).
TEST_P(GemmTileTest, BitIdenticalWhateverTheBatch) {
  const WeightFormat format = GetParam();
  std::mt19937 rng(7);
  constexpr int64_t kMaxTokens = 20;
  for (int64_t cols : {32, 96, 576}) {
    const int64_t rows = 37;
    const std::vector<uint8_t> weights = RandomWeights(format, rows, cols, rng);
    const WeightView w{format, weights.data(), rows, cols};
    const std::vector<float> x = RandomActivations(kMaxTokens * cols, rng);
    ThreadPool one(1), three(3);
    // Each token alone is the reference.
    std::vector<float> alone(kMaxTokens * rows);
    for (int64_t t = 0; t < kMaxTokens; ++t) {
      ASSERT_TRUE(Gemm({x.data() + t * cols, w, alone.data() + t * rows, 1, false}, one).ok());
      std::vector<ActivationBlock> xq(cols / 32);
      QuantizeActivations(x.data() + t * cols, cols, xq.data());
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(alone[t * rows + r],
                  DotRow(format, w.row(r), x.data() + t * cols,
                         UsesQuantizedActivations(format) ? xq.data() : nullptr, cols));
      }
    }
    for (int64_t n = 1; n <= kMaxTokens; ++n) {
      for (ThreadPool* pool : {&one, &three}) {
        for (bool tiles : {true, false}) {
          std::vector<float> y(n * rows, -1.0f);
          ASSERT_TRUE(internal::GemmForTesting({x.data(), w, y.data(), n, false}, *pool,
                                               TileOrder::kInvariant, tiles)
                          .ok());
          for (int64_t i = 0; i < n * rows; ++i) {
            ASSERT_EQ(y[i], alone[i])
                << WeightFormatName(format) << " cols=" << cols << " batch=" << n
                << " token=" << i / rows << " row=" << i % rows
                << " threads=" << pool->num_threads() << " tiles=" << tiles;
          }
        }
      }
    }
  }
}

// The tiled result is the dot product of the values the kernel multiplies
// (dequantized weights, quantized activations), and accumulate adds into y.
TEST_P(GemmTileTest, AgreesWithReferenceAndAccumulates) {
  const WeightFormat format = GetParam();
  std::mt19937 rng(11);
  const int64_t rows = 19, cols = 192, tokens = 11;
  const std::vector<uint8_t> weights = RandomWeights(format, rows, cols, rng);
  const WeightView w{format, weights.data(), rows, cols};
  const std::vector<float> x = RandomActivations(tokens * cols, rng);
  ThreadPool pool(2);
  std::vector<float> y(tokens * rows);
  ASSERT_TRUE(Gemm({x.data(), w, y.data(), tokens, false}, pool).ok());
  std::vector<float> deq(cols);
  std::vector<ActivationBlock> xq(cols / 32);
  for (int64_t t = 0; t < tokens; ++t) {
    QuantizeActivations(x.data() + t * cols, cols, xq.data());
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(format, w.row(r), cols, deq.data());
      double reference = 0, magnitude = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double xc = UsesQuantizedActivations(format)
                              ? static_cast<double>(xq[c / 32].scale) * xq[c / 32].qs[c % 32]
                              : x[t * cols + c];
        reference += deq[c] * xc;
        magnitude += std::fabs(deq[c] * xc);
      }
      EXPECT_NEAR(y[t * rows + r], reference, 1e-5 * magnitude + 1e-6)
          << WeightFormatName(format) << " token=" << t << " row=" << r;
    }
  }
  std::vector<float> acc(tokens * rows, 0.5f);
  ASSERT_TRUE(Gemm({x.data(), w, acc.data(), tokens, true}, pool).ok());
  for (size_t i = 0; i < acc.size(); ++i) ASSERT_EQ(acc[i], y[i] + 0.5f);
}

// The benchmark-only free order is a different summation of the same
// products, so it agrees with the invariant order to rounding.
TEST_P(GemmTileTest, FreeOrderAgreesToRounding) {
  const WeightFormat format = GetParam();
  if (!UsesQuantizedActivations(format)) GTEST_SKIP() << "float formats have one order";
  std::mt19937 rng(13);
  const int64_t rows = 23, cols = 576;
  const std::vector<uint8_t> weights = RandomWeights(format, rows, cols, rng);
  const WeightView w{format, weights.data(), rows, cols};
  const std::vector<float> x = RandomActivations(3 * cols, rng);
  ThreadPool pool(1);
  for (int64_t n : {1, 2, 3}) {
    std::vector<float> fixed(n * rows), free(n * rows);
    ASSERT_TRUE(Gemm({x.data(), w, fixed.data(), n, false}, pool).ok());
    ASSERT_TRUE(internal::GemmForTesting({x.data(), w, free.data(), n, false}, pool,
                                         TileOrder::kFreeOrder, true)
                    .ok());
    for (int64_t i = 0; i < n * rows; ++i) {
      EXPECT_NEAR(free[i], fixed[i], 1e-4 * (1 + std::fabs(fixed[i])));
    }
  }
}

TEST(GemmTest, RejectsPartialBlocks) {
  std::vector<uint8_t> weights(34);
  ThreadPool pool(1);
  std::vector<float> x(48), y(1);
  const absl::Status status = Gemm(
      {x.data(), WeightView{WeightFormat::kQ8_0, weights.data(), 1, 48}, y.data(), 1, false}, pool);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("48 columns"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, GemmTileTest,
                         ::testing::Values(WeightFormat::kF32, WeightFormat::kF16,
                                           WeightFormat::kBF16, WeightFormat::kQ8_0,
                                           WeightFormat::kQ4_0, WeightFormat::kQ4_1));

}  // namespace
}  // namespace gqa::cpu
