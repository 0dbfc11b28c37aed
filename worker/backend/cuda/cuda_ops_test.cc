// Every CUDA backend op except attention against the CPU backend on the same
// inputs, every element checked with the tolerance stated beside each test:
// GEMM in every weight format, embedding, RMSNorm, RoPE, SwiGLU, Add, KV
// writes (FP8 quantization with per-token scales) and block copies, greedy
// argmax, and the device-side errors. Skips without a GPU, except the test
// that checks the no-device error itself.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cpu/dot_kernels.h"
#include "worker/backend/cuda/cuda_test_util.h"

namespace gqa::cuda {
namespace {

std::vector<float> Random(int64_t n, std::mt19937& rng, float stddev = 1.0f) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

std::unique_ptr<Backend> Cpu() { return MakeCpuBackend({.num_threads = 2}); }

TEST(CudaBackendTest, WithoutADeviceCreationIsUnavailableAndSaysSo) {
  auto devices = ListCudaDevices();
  if (devices.ok()) GTEST_SKIP() << "this machine has a GPU";
  auto backend = MakeCudaBackend({});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(backend.status().message().find("no CUDA device"), absl::string_view::npos)
      << backend.status();
}

// A weight matrix in `format`, [rows, cols] with rows `stride` bytes apart.
std::vector<uint8_t> RandomWeights(WeightFormat format, int64_t rows, int64_t cols, int64_t stride,
                                   std::mt19937& rng) {
  std::vector<uint8_t> bytes(rows * stride, 0);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = bytes.data() + r * stride;
    const std::vector<float> x = Random(cols, rng, 0.1f);
    if (format == WeightFormat::kF32) {
      std::memcpy(row, x.data(), cols * 4);
    } else if (format == WeightFormat::kF16 || format == WeightFormat::kBF16) {
      for (int64_t i = 0; i < cols; ++i) {
        const uint16_t bits = format == WeightFormat::kF16 ? FloatToHalf(x[i]) : FloatToBf16(x[i]);
        std::memcpy(row + 2 * i, &bits, 2);
      }
    } else {
      for (int64_t b = 0; b < cols / 32; ++b) {
        uint8_t* block = row + b * BlockBytes(format);
        for (int64_t i = 0; i < BlockBytes(format); ++i) block[i] = static_cast<uint8_t>(byte(rng));
        const uint16_t d = FloatToHalf(0.002f + 0.001f * (b % 5));
        std::memcpy(block, &d, 2);
        if (format == WeightFormat::kQ4_1) {
          const uint16_t m = FloatToHalf(-0.01f * (b % 3));
          std::memcpy(block + 2, &m, 2);
        }
      }
    }
  }
  return bytes;
}

// GEMM tolerance per element, from the exact dot product's magnitude
// S = sum |x_i w_i| (w dequantized): f32 weights 1e-5 S (summation order);
// f16 2^-10 S and bf16 2^-7 S (the GPU rounds x to the weight's type, unit
// roundoff 2^-11 / 2^-8); Q8_0/Q4_0/Q4_1 1e-2 S + 1e-6 (the CPU rounds x to
// 8-bit blocks, the GPU multiplies dequantized f32 weights).
double GemmTolerance(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return 1e-5;
    case WeightFormat::kF16:
      return 1.0 / 1024;
    case WeightFormat::kBF16:
      return 1.0 / 128;
    default:
      return 1e-2;
  }
}

TEST(CudaBackendTest, GemmMatchesCpuInEveryWeightFormat) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  const int64_t rows = 96, cols = 256;
  for (const WeightFormat format :
       {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16, WeightFormat::kQ8_0,
        WeightFormat::kQ4_0, WeightFormat::kQ4_1}) {
    for (const int64_t tokens : {1, 7}) {
      for (const bool padded : {false, true}) {
        std::mt19937 rng(static_cast<int>(format) * 100 + tokens + padded);
        const int64_t stride = RowBytes(format, cols) + (padded ? 64 : 0);
        const std::vector<uint8_t> w = RandomWeights(format, rows, cols, stride, rng);
        const std::vector<float> x = Random(tokens * cols, rng);
        std::vector<float> y = Random(tokens * rows, rng);  // accumulated into
        const WeightView host_w{format, w.data(), rows, cols, padded ? stride : 0};
        test::DeviceArena arena(*gpu);
        WeightView device_w = host_w;
        device_w.data = arena.Copy(w);
        float* device_y = arena.Copy(y);
        ASSERT_TRUE(gpu->Gemm({arena.Copy(x), device_w, device_y, tokens, true}).ok());
        ASSERT_TRUE(gpu->Synchronize().ok());
        const std::vector<float> y0 = y;
        ASSERT_TRUE(cpu->Gemm({x.data(), host_w, y.data(), tokens, true}).ok());
        const std::vector<float> got = arena.Read(device_y, y.size());
        std::vector<float> dense(cols);
        for (int64_t r = 0; r < rows; ++r) {
          cpu::DequantizeRow(format, host_w.row(r), cols, dense.data());
          for (int64_t t = 0; t < tokens; ++t) {
            double magnitude = std::abs(y0[t * rows + r]);
            for (int64_t i = 0; i < cols; ++i) magnitude += std::abs(x[t * cols + i] * dense[i]);
            const double bound = GemmTolerance(format) * magnitude + 1e-6;
            ASSERT_NEAR(got[t * rows + r], y[t * rows + r], bound)
                << WeightFormatName(format) << " tokens=" << tokens << " padded=" << padded
                << " row " << r << " token " << t;
          }
        }
      }
    }
  }
}

// Embedding rows are dequantized identically (no contraction): exact.
TEST(CudaBackendTest, EmbeddingMatchesCpuExactly) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  const int64_t vocab = 50, hidden = 128;
  for (const WeightFormat format :
       {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBF16, WeightFormat::kQ8_0,
        WeightFormat::kQ4_0, WeightFormat::kQ4_1}) {
    std::mt19937 rng(static_cast<int>(format));
    const std::vector<uint8_t> table =
        RandomWeights(format, vocab, hidden, RowBytes(format, hidden), rng);
    const std::vector<int32_t> ids = {0, 49, 7, 7, 23};
    std::vector<float> want(ids.size() * hidden);
    const WeightView host_table{format, table.data(), vocab, hidden, 0};
    ASSERT_TRUE(cpu->Embedding({host_table, ids.data(), want.data(), 5}).ok());
    test::DeviceArena arena(*gpu);
    WeightView device_table = host_table;
    device_table.data = arena.Copy(table);
    float* out = arena.Copy(std::vector<float>(want.size(), -1.0f));
    ASSERT_TRUE(gpu->Embedding({device_table, arena.Copy(ids), out, 5}).ok());
    ASSERT_TRUE(gpu->Synchronize().ok());
    test::ExpectAllNear(arena.Read(out, want.size()), want, 0, 0,
                        std::string(WeightFormatName(format)));
  }
}

TEST(CudaBackendTest, EmbeddingOfAnUnknownTokenIsInvalidArgumentAtSynchronize) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  std::mt19937 rng(3);
  const std::vector<uint8_t> table = RandomWeights(WeightFormat::kF32, 10, 32, 128, rng);
  test::DeviceArena arena(*gpu);
  const std::vector<int32_t> ids = {3, 10};
  float* out = arena.Copy(std::vector<float>(64, 0.0f));
  ASSERT_TRUE(
      gpu->Embedding({{WeightFormat::kF32, arena.Copy(table), 10, 32, 0}, arena.Copy(ids), out, 2})
          .ok());
  const absl::Status status = gpu->Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("id 10 outside the vocabulary"), absl::string_view::npos)
      << status;
}

// RMSNorm: both sum squares in double; the f32 products round alike.
// Tolerance 1e-6 relative + 1e-7 absolute.
TEST(CudaBackendTest, RmsNormMatchesCpu) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  std::mt19937 rng(4);
  const int64_t tokens = 5, dim = 576;
  const std::vector<float> x = Random(tokens * dim, rng), w = Random(dim, rng);
  std::vector<float> want(x.size());
  ASSERT_TRUE(cpu->RmsNorm({x.data(), w.data(), want.data(), tokens, dim, 1e-5f}).ok());
  test::DeviceArena arena(*gpu);
  float* y = arena.Copy(x);
  ASSERT_TRUE(gpu->RmsNorm({y, arena.Copy(w), y, tokens, dim, 1e-5f}).ok());  // in place
  test::ExpectAllNear(arena.Read(y, want.size()), want, 1e-7, 1e-6, "rms norm");
}

// RoPE: same double-precision frequencies and angles. Tolerance 1e-6 + 1e-6 rel.
TEST(CudaBackendTest, RopeMatchesCpuInBothLayoutsAndScalings) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  std::mt19937 rng(5);
  const int64_t tokens = 4, q_heads = 9, kv_heads = 3, dim = 64;
  const std::vector<int32_t> positions = {0, 1, 517, 30000};
  RopeScaling llama3{RopeScalingType::kLlama3, 8.0, 8192, 1.0, 4.0};
  for (const bool interleaved : {true, false}) {
    for (const RopeScaling& scaling : {RopeScaling{}, llama3}) {
      std::vector<float> q = Random(tokens * q_heads * dim, rng);
      std::vector<float> k = Random(tokens * kv_heads * dim, rng);
      test::DeviceArena arena(*gpu);
      float* dq = arena.Copy(q);
      float* dk = arena.Copy(k);
      RopeParams p{q.data(), k.data(), positions.data(), tokens,  q_heads,
                   kv_heads, dim,      500000.0,         scaling, interleaved};
      ASSERT_TRUE(cpu->Rope(p).ok());
      p.q = dq;
      p.k = dk;
      p.positions = arena.Copy(positions);
      ASSERT_TRUE(gpu->Rope(p).ok());
      test::ExpectAllNear(arena.Read(dq, q.size()), q, 1e-6, 1e-6, "rope q");
      test::ExpectAllNear(arena.Read(dk, k.size()), k, 1e-6, 1e-6, "rope k");
    }
  }
}

// SwiGLU: expf is within 2 ulp of std::exp. Tolerance 1e-6 relative + 1e-7.
// Add: one rounding each: exact.
TEST(CudaBackendTest, SwiGluAndAddMatchCpu) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  std::mt19937 rng(6);
  const int64_t tokens = 3, dim = 1536;
  std::vector<float> gate = Random(tokens * dim, rng, 3.0f);
  const std::vector<float> up = Random(tokens * dim, rng);
  test::DeviceArena arena(*gpu);
  float* dg = arena.Copy(gate);
  const float* du = arena.Copy(up);
  ASSERT_TRUE(gpu->SwiGlu({dg, du, dg, tokens, dim}).ok());
  ASSERT_TRUE(cpu->SwiGlu({gate.data(), up.data(), gate.data(), tokens, dim}).ok());
  test::ExpectAllNear(arena.Read(dg, gate.size()), gate, 1e-7, 1e-6, "swiglu");
  ASSERT_TRUE(gpu->Add(dg, du, tokens * dim).ok());
  ASSERT_TRUE(cpu->Add(gate.data(), up.data(), tokens * dim).ok());
  test::ExpectAllNear(arena.Read(dg, gate.size()), gate, 0, 0, "add");
}

// Greedy: argmax with ties to the lowest id, as the host sampler.
TEST(CudaBackendTest, ArgmaxRowsTakesTheLowestIdOfATie) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  std::mt19937 rng(8);
  const int64_t rows = 3, vocab = 49152;
  std::vector<float> logits = Random(rows * vocab, rng);
  logits[0 * vocab + 40000] = 9.0f;
  logits[0 * vocab + 123] = 9.0f;  // tie: 123 wins
  logits[1 * vocab + 5] = std::numeric_limits<float>::quiet_NaN();
  logits[1 * vocab + 49151] = 7.0f;
  logits[2 * vocab + 0] = 8.0f;
  test::DeviceArena arena(*gpu);
  int32_t* ids = arena.Copy(std::vector<int32_t>(rows, -1));
  ASSERT_TRUE(gpu->ArgmaxRows(arena.Copy(logits), rows, vocab, ids).ok());
  EXPECT_EQ(arena.Read(ids, rows), (std::vector<int32_t>{123, 49151, 0}));
}

// The engine's data movement (Model on a device backend): GatherRows of the
// logit tokens' rows, CopyWithin and SetZero, exactly as the CPU does them; a
// bad gather row zeroes its output row and is reported at Synchronize().
TEST(CudaBackendTest, GatherRowsCopyWithinAndSetZeroMatchCpuExactly) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = Cpu();
  std::mt19937 rng(9);
  const int64_t src_rows = 7, width = 576;
  const std::vector<float> src = Random(src_rows * width, rng);
  const std::vector<int32_t> rows = {6, 0, 3, 3};
  std::vector<float> expected(rows.size() * width);
  ASSERT_TRUE(cpu->GatherRows({src.data(), rows.data(), expected.data(), src_rows,
                               static_cast<int64_t>(rows.size()), width})
                  .ok());
  test::DeviceArena arena(*gpu);
  const float* dsrc = arena.Copy(src);
  float* dst = arena.Copy(std::vector<float>(expected.size(), -1.0f));
  ASSERT_TRUE(gpu->GatherRows({dsrc, arena.Copy(rows), dst, src_rows,
                               static_cast<int64_t>(rows.size()), width})
                  .ok());
  ASSERT_TRUE(gpu->Synchronize().ok());
  test::ExpectAllNear(arena.Read(dst, expected.size()), expected, 0, 0, "gather");
  float* copy = arena.Copy(std::vector<float>(src.size(), -1.0f));
  ASSERT_TRUE(gpu->CopyWithin(copy, dsrc, static_cast<int64_t>(src.size() * 4)).ok());
  test::ExpectAllNear(arena.Read(copy, src.size()), src, 0, 0, "copy within");
  ASSERT_TRUE(gpu->SetZero(copy, width * 4).ok());
  std::vector<float> zeroed = src;
  std::fill(zeroed.begin(), zeroed.begin() + width, 0.0f);
  test::ExpectAllNear(arena.Read(copy, src.size()), zeroed, 0, 0, "set zero");

  const std::vector<int32_t> bad = {1, 7};
  ASSERT_TRUE(gpu->GatherRows({dsrc, arena.Copy(bad), dst, src_rows, 2, width}).ok());
  const absl::Status reported = gpu->Synchronize();
  EXPECT_EQ(reported.code(), absl::StatusCode::kInvalidArgument) << reported;
  EXPECT_NE(reported.message().find("gather"), std::string::npos) << reported;
  const std::vector<float> out = arena.Read(dst, 2 * width);
  EXPECT_TRUE(std::all_of(out.begin() + width, out.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(gpu->Synchronize().ok());  // reported once, then cleared
}

}  // namespace
}  // namespace gqa::cuda
