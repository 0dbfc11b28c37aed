#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cpu/rope.h"

namespace gqa {
namespace {

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& value : x) value = dist(rng);
  return x;
}

TEST(CpuOpsTest, RmsNormMatchesFormula) {
  auto backend = MakeCpuBackend({});
  const int64_t dim = 10;
  auto x = Random(2 * dim, 1);
  auto weight = Random(dim, 2);
  std::vector<float> y(2 * dim);
  ASSERT_TRUE(backend->RmsNorm({x.data(), weight.data(), y.data(), 2, dim, 1e-5f}).ok());
  for (int t = 0; t < 2; ++t) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += x[t * dim + i] * x[t * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int i = 0; i < dim; ++i) {
      EXPECT_NEAR(y[t * dim + i], x[t * dim + i] * inv * weight[i], 1e-5);
    }
  }
}

TEST(CpuOpsTest, RopeRotatesPairsByPositionTimesFrequency) {
  auto backend = MakeCpuBackend({});
  const int64_t dim = 8, heads = 2;
  const double theta = 10000.0;
  for (bool interleaved : {true, false}) {
    auto q = Random(heads * dim, 3);
    auto original = q;
    const int32_t position = 123;
    RopeParams p;
    p.q = q.data();
    p.positions = &position;
    p.num_tokens = 1;
    p.num_q_heads = heads;
    p.head_dim = dim;
    p.theta = theta;
    p.interleaved_pairs = interleaved;
    ASSERT_TRUE(backend->Rope(p).ok());
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < dim / 2; ++i) {
        const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + dim / 2;
        const double angle = position * std::pow(theta, -2.0 * i / dim);
        const std::complex<double> z(original[h * dim + a], original[h * dim + b]);
        const std::complex<double> rotated = z * std::polar(1.0, angle);
        EXPECT_NEAR(q[h * dim + a], rotated.real(), 1e-5);
        EXPECT_NEAR(q[h * dim + b], rotated.imag(), 1e-5);
      }
    }
  }
}

TEST(CpuOpsTest, RopeScaling) {
  RopeScaling linear{RopeScalingType::kLinear, 4.0, 0, 1.0, 4.0};
  auto plain = cpu::RopeInverseFrequencies(8, 10000.0, {});
  auto scaled = cpu::RopeInverseFrequencies(8, 10000.0, linear);
  ASSERT_TRUE(plain.ok() && scaled.ok());
  for (size_t i = 0; i < plain->size(); ++i) EXPECT_DOUBLE_EQ((*scaled)[i], (*plain)[i] / 4.0);
  EXPECT_EQ(cpu::RopeInverseFrequencies(7, 10000.0, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  RopeScaling yarn{RopeScalingType::kYarn, 4.0, 4096, 1.0, 4.0};
  EXPECT_EQ(cpu::RopeInverseFrequencies(8, 10000.0, yarn).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(CpuOpsTest, SwiGlu) {
  auto backend = MakeCpuBackend({});
  std::vector<float> gate = {-2.0f, 0.0f, 3.0f}, up = {1.0f, 5.0f, 2.0f}, out(3);
  ASSERT_TRUE(backend->SwiGlu({gate.data(), up.data(), out.data(), 1, 3}).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(out[i], gate[i] / (1 + std::exp(-gate[i])) * up[i], 1e-6);
  }
}

TEST(CpuOpsTest, GemmIsBatchInvariantAndAccumulates) {
  auto backend = MakeCpuBackend({.num_threads = 2});
  const int64_t rows = 40, cols = 64, tokens = 5;
  auto w = Random(rows * cols, 4);
  auto x = Random(tokens * cols, 5);
  WeightView view{WeightFormat::kF32, w.data(), rows, cols};
  std::vector<float> batched(tokens * rows);
  ASSERT_TRUE(backend->Gemm({x.data(), view, batched.data(), tokens, false}).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> single(rows);
    ASSERT_TRUE(backend->Gemm({x.data() + t * cols, view, single.data(), 1, false}).ok());
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_EQ(single[r], batched[t * rows + r]);  // bit-identical alone or in a batch
      double ref = 0;
      for (int64_t c = 0; c < cols; ++c) ref += w[r * cols + c] * x[t * cols + c];
      ASSERT_NEAR(single[r], ref, 1e-4);
    }
  }
  std::vector<float> acc(tokens * rows, 1.0f);
  ASSERT_TRUE(backend->Gemm({x.data(), view, acc.data(), tokens, true}).ok());
  for (size_t i = 0; i < acc.size(); ++i) ASSERT_FLOAT_EQ(acc[i], batched[i] + 1.0f);
}

TEST(CpuOpsTest, EmbeddingRejectsOutOfVocabularyIds) {
  auto backend = MakeCpuBackend({});
  std::vector<float> table = {1, 2, 3, 4, 5, 6};  // vocab 3, hidden 2
  WeightView view{WeightFormat::kF32, table.data(), 3, 2};
  std::vector<int32_t> ids = {2, 0};
  std::vector<float> out(4);
  ASSERT_TRUE(backend->Embedding({view, ids.data(), out.data(), 2}).ok());
  EXPECT_EQ(out, (std::vector<float>{5, 6, 1, 2}));
  ids[1] = 3;
  absl::Status status = backend->Embedding({view, ids.data(), out.data(), 2});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("token id 3"), std::string::npos);
}

}  // namespace
}  // namespace gqa
