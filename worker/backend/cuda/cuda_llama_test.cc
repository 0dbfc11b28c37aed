// A Llama-shaped model (BackendLlama: 2 layers, GQA 6/2, head_dim 64, random
// f32 weights) run on the CPU and the CUDA backend over the same tokens:
// a 9-token prefill, then greedy decode steps fed by the CPU's tokens. The
// logits must agree within 2e-3 x max |logit| + 1e-4 at every step (f32
// weights: the backends differ in summation order and expf only), and the
// greedy tokens must be equal wherever the CPU's top two logits are further
// apart than that. Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/backend_llama.h"
#include "worker/backend/cuda/cuda_test_util.h"

namespace gqa::cuda {
namespace {

BackendCopy HostCopy() {
  return [](void* dst, const void* src, int64_t bytes) {
    std::memcpy(dst, src, bytes);
    return absl::OkStatus();
  };
}

int32_t Argmax(const float* row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

// The harness itself, on the CPU alone (runs without a GPU): same seed, same
// logits; a different seed, different logits; all finite.
TEST(BackendLlamaTest, IsDeterministicPerSeedOnTheCpu) {
  auto backend = MakeCpuBackend({});
  LlamaShape shape;
  std::vector<std::vector<float>> logits;
  for (const uint32_t seed : {3u, 3u, 4u}) {
    auto model = BackendLlama::Create(backend.get(), HostCopy(), HostCopy(), shape, seed);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_TRUE((*model)->Step({5, 6, 7}, {0, 0, 0}, {0, 1, 2}).ok());
    ASSERT_TRUE((*model)->Step({8}, {0}, {3}).ok());
    auto l = (*model)->Logits();
    ASSERT_TRUE(l.ok());
    ASSERT_EQ(l->size(), static_cast<size_t>(shape.vocab));
    for (float v : *l) ASSERT_TRUE(std::isfinite(v));
    logits.push_back(*l);
  }
  EXPECT_EQ(logits[0], logits[1]);
  EXPECT_NE(logits[0], logits[2]);
  auto model = BackendLlama::Create(backend.get(), HostCopy(), HostCopy(), shape, 3);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->Step({1}, {0}, {static_cast<int32_t>(shape.max_context)}).code(),
            absl::StatusCode::kInvalidArgument);
}

class CudaLlamaTest : public ::testing::TestWithParam<DType> {};

TEST_P(CudaLlamaTest, PrefillAndGreedyDecodeAgreeWithTheCpu) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  LlamaShape shape;
  shape.q_heads = 6;
  shape.kv_heads = 2;
  shape.hidden = 384;
  shape.kv_dtype = GetParam();
  shape.max_seqs = 2;
  shape.max_context = 48;
  shape.max_tokens = 16;
  auto cpu_backend = MakeCpuBackend({.num_threads = 2});
  auto cpu = BackendLlama::Create(cpu_backend.get(), HostCopy(), HostCopy(), shape, 7);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  CudaBackend* device = gpu.get();
  auto to_device = [device](void* d, const void* s, int64_t n) {
    return device->CopyToDevice(d, s, n);
  };
  auto to_host = [device](void* d, const void* s, int64_t n) {
    return device->CopyToHost(d, s, n);
  };
  auto cuda = BackendLlama::Create(device, to_device, to_host, shape, 7);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  // Sequence 0: a 9-token prompt; sequence 1: a 3-token prompt; both in one step.
  std::vector<int32_t> ids = {1, 17, 99, 3, 250, 4, 8, 500, 42, 7, 7, 300};
  std::vector<int32_t> seqs = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
  std::vector<int32_t> positions = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2};
  int32_t next_pos[2] = {9, 3};
  int num_compared_tokens = 0;
  for (int step = 0; step < 6; ++step) {
    ASSERT_TRUE((*cpu)->Step(ids, seqs, positions).ok());
    ASSERT_TRUE((*cuda)->Step(ids, seqs, positions).ok());
    auto want = (*cpu)->Logits();
    auto got = (*cuda)->Logits();
    ASSERT_TRUE(want.ok() && got.ok());
    double scale = 0;
    for (float v : *want) scale = std::max(scale, std::abs(static_cast<double>(v)));
    const double tolerance = 2e-3 * scale + 1e-4;
    test::ExpectAllNear(*got, *want, tolerance, 0, "step " + std::to_string(step));
    // The next tokens: greedy on the CPU's logits of each sequence's last token.
    std::vector<int32_t> next_ids, next_seqs, next_positions;
    for (int32_t seq = 0; seq < 2; ++seq) {
      int64_t last = -1;
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (seqs[i] == seq) last = static_cast<int64_t>(i);
      }
      const float* cpu_row = want->data() + last * shape.vocab;
      const float* gpu_row = got->data() + last * shape.vocab;
      std::vector<float> sorted(cpu_row, cpu_row + shape.vocab);
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      if (sorted[0] - sorted[1] > 2 * tolerance) {  // not a near-tie
        EXPECT_EQ(Argmax(gpu_row, shape.vocab), Argmax(cpu_row, shape.vocab))
            << "step " << step << " sequence " << seq;
        ++num_compared_tokens;
      }
      next_ids.push_back(Argmax(cpu_row, shape.vocab));
      next_seqs.push_back(seq);
      next_positions.push_back(next_pos[seq]++);
    }
    ids = next_ids;
    seqs = next_seqs;
    positions = next_positions;
  }
  EXPECT_GT(num_compared_tokens, 6) << "too many near-ties to check greedy tokens";
}

INSTANTIATE_TEST_SUITE_P(KvDtypes, CudaLlamaTest,
                         ::testing::Values(DType::kF32, DType::kBF16, DType::kFp8E4M3),
                         [](const auto& info) { return test::DTypeTestName(info.param); });

}  // namespace
}  // namespace gqa::cuda
