// CUDA paged attention against the CPU backend (the oracle) on the same
// cache bytes: MHA, GQA (groups 3, 4, 8), MQA (32 and 40 query heads, the
// latter two group tiles), head_dim 64/128/256, every KV dtype, contexts from
// 1 slot to several splits, prefill chunks, the bounded policies (slot maps,
// sinks, windows, q_sink) and h2o column sums. Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/attention_test_util.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/cuda_test_util.h"

namespace gqa::cuda {
namespace {

using cpu::test::Batch;
using cpu::test::BuildCache;
using cpu::test::RandomVector;
using cpu::test::TestCache;

// Both backends read the same stored values and accumulate in f32; they
// differ only in summation order and expf rounding. Outputs are weighted
// means of V rows (|v| <= ~4 here), so for every dtype:
constexpr double kOutAtol = 5e-5, kOutRtol = 2e-4;
// Column sums are probabilities summed over a group (<= group size).
constexpr double kSumAtol = 2e-5, kSumRtol = 2e-4;

class CudaAttentionTest : public ::testing::TestWithParam<DType> {
 protected:
  // Runs `batch` on the CPU and the GPU and compares every element.
  void Compare(Batch& batch, TestCache& cache, int64_t q_heads, const char* what) {
    GQA_CUDA_BACKEND_OR_SKIP(gpu);
    AttentionParams host = batch.Params(cache, q_heads);
    std::fill(batch.out.begin(), batch.out.end(), std::numeric_limits<float>::quiet_NaN());
    // Sums are >= 0; -7 marks what neither backend may write (a token
    // without column sums), so it must survive on both.
    std::fill(batch.column_sums.begin(), batch.column_sums.end(), -7.0f);
    test::DeviceArena arena(*gpu);
    const std::vector<float> poison_out = batch.out, poison_sums = batch.column_sums;
    auto cpu_backend = MakeCpuBackend({.num_threads = 2});
    ASSERT_TRUE(cpu_backend->PagedAttention(host).ok());
    // CopyAttention copies the outputs too: give it the poisoned ones.
    const std::vector<float> cpu_out = batch.out, cpu_sums = batch.column_sums;
    std::copy(poison_out.begin(), poison_out.end(), batch.out.begin());  // host.out's storage
    std::copy(poison_sums.begin(), poison_sums.end(), batch.column_sums.begin());
    // The automatic kernel choice (prefill kernel for batches with more
    // tokens than sequences), then the decode kernel forced.
    auto decode_only = MakeCudaBackend({.attention_query_tile = 1});
    ASSERT_TRUE(decode_only.ok()) << decode_only.status();
    for (CudaBackend* backend : {gpu.get(), decode_only->get()}) {
      const std::string label =
          std::string(what) + (backend == gpu.get() ? " (auto)" : " (decode)");
      const AttentionParams poisoned = arena.CopyAttention(host);  // fresh, poisoned outputs
      ASSERT_TRUE(backend->PagedAttention(poisoned).ok());
      ASSERT_TRUE(backend->Synchronize().ok());
      test::ExpectAllNear(arena.Read(poisoned.out, cpu_out.size()), cpu_out, kOutAtol, kOutRtol,
                          label);
      if (!cpu_sums.empty()) {
        std::vector<float> sums = arena.Read(poisoned.column_sums, cpu_sums.size());
        test::ExpectAllNear(sums, cpu_sums, kSumAtol, kSumRtol, label);
      }
    }
  }
};

void AddToken(Batch& b, int32_t seq, int32_t context, int32_t position, int64_t q_elems,
              std::mt19937& rng, bool with_position) {
  b.seq_idx.push_back(seq);
  b.context_lens.push_back(context);
  if (with_position) b.query_positions.push_back(position);
  const std::vector<float> q = RandomVector(q_elems, rng);
  b.q.insert(b.q.end(), q.begin(), q.end());
}

struct Shape {
  int64_t q_heads, kv_heads, dim;
};

// Decode: one token per sequence, contexts 1 .. several splits, every shape.
TEST_P(CudaAttentionTest, DecodeEveryShape) {
  const Shape shapes[] = {{4, 4, 64},   {9, 3, 64},  {8, 2, 128}, {16, 2, 128},
                          {32, 1, 128}, {40, 1, 64}, {8, 1, 256}};
  for (const Shape& s : shapes) {
    std::mt19937 rng(7 + s.q_heads);
    const std::vector<int64_t> contexts = {1, 17, 300, 2100};
    TestCache cache = BuildCache(GetParam(), s.kv_heads, s.dim, 16, contexts, rng);
    Batch b;
    for (size_t i = 0; i < contexts.size(); ++i) {
      AddToken(b, static_cast<int32_t>(i), static_cast<int32_t>(contexts[i]), 0, s.q_heads * s.dim,
               rng, false);
    }
    Compare(b, cache, s.q_heads,
            ("q_heads=" + std::to_string(s.q_heads) + " kv_heads=" + std::to_string(s.kv_heads) +
             " dim=" + std::to_string(s.dim))
                .c_str());
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

// Prefill: a chunk of tokens of one sequence, each scanning its own prefix,
// tiles mixing sequences, and block sizes other than 16.
TEST_P(CudaAttentionTest, PrefillChunksAndBlockSizes) {
  for (const int64_t block_size : {8, 16, 32}) {
    std::mt19937 rng(11 + block_size);
    const int64_t q_heads = 6, kv_heads = 2, dim = 64, slots = 200;
    TestCache cache = BuildCache(GetParam(), kv_heads, dim, block_size, {slots, 40}, rng);
    Batch b;
    for (int32_t t = 0; t < slots; t += 3) AddToken(b, 0, t + 1, t, q_heads * dim, rng, false);
    AddToken(b, 1, 40, 0, q_heads * dim, rng, false);
    // Alternating sequences: query tiles of several one-token runs.
    for (int32_t t = 0; t < 12; ++t) AddToken(b, t % 2, 30 + t, 0, q_heads * dim, rng, false);
    Compare(b, cache, q_heads, ("block_size=" + std::to_string(block_size)).c_str());
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

// StreamingLLM: sinks, a recent window, q_sink, with whole tiles skipped,
// plus the h2o column sums of every token.
TEST_P(CudaAttentionTest, SinksWindowQSinkAndColumnSums) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 64, slots = 700;
  std::mt19937 rng(23);
  TestCache cache = BuildCache(GetParam(), kv_heads, dim, 16, {slots}, rng);
  Batch b;
  b.num_sinks = {4};
  b.recent_window = {64};
  for (const int32_t pos : {699, 400, 5, 70, 130}) {
    AddToken(b, 0, pos + 1, pos, q_heads * dim, rng, true);
  }
  b.q_sink = RandomVector(static_cast<int64_t>(b.q.size()), rng);
  int64_t offset = 0;
  for (const int32_t context : b.context_lens) {
    b.column_sum_offsets.push_back(offset);
    offset += kv_heads * context;
  }
  b.column_sum_offsets[2] = -1;  // this token wants none
  b.column_sums.assign(offset, 0.0f);
  Compare(b, cache, q_heads, "streaming + column sums");
}

// Bounded-policy slot maps: shuffled positions with holes, per-KV-head maps
// (head_stride), a long context with column sums across several splits.
TEST_P(CudaAttentionTest, SlotMapsWithHolesAndHeadStride) {
  const int64_t q_heads = 12, kv_heads = 3, dim = 128, slots = 1500, stride = 1536;
  std::mt19937 rng(31);
  TestCache cache = BuildCache(GetParam(), kv_heads, dim, 16, {slots, 60}, rng);
  std::vector<int32_t> positions(kv_heads * stride, -1);
  for (int64_t h = 0; h < kv_heads; ++h) {
    std::vector<int32_t> kept(3000);
    std::iota(kept.begin(), kept.end(), 0);
    std::shuffle(kept.begin(), kept.end(), rng);
    for (int64_t i = 0; i < slots; ++i) positions[h * stride + i] = (i % 7 == h) ? -1 : kept[i];
  }
  Batch b;
  b.slot_positions = {SlotPositions{positions.data(), stride}, SlotPositions{}};
  b.num_sinks = {2, 0};
  b.recent_window = {0, 16};
  for (const int32_t pos : {2999, 1800, 300}) AddToken(b, 0, slots, pos, q_heads * dim, rng, true);
  AddToken(b, 1, 60, 59, q_heads * dim, rng, true);
  int64_t offset = 0;
  for (const int32_t context : b.context_lens) {
    b.column_sum_offsets.push_back(offset);
    offset += kv_heads * context;
  }
  b.column_sums.assign(offset, 0.0f);
  Compare(b, cache, q_heads, "slot maps");
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaAttentionTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                           DType::kFp8E5M2),
                         [](const auto& info) { return test::DTypeTestName(info.param); });

TEST(CudaAttentionErrorTest, UnsupportedHeadDimIsUnimplementedAndNamesIt) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  std::mt19937 rng(1);
  TestCache cache = BuildCache(DType::kBF16, 1, 96, 16, {20}, rng);
  Batch b;
  AddToken(b, 0, 20, 0, 2 * 96, rng, false);
  test::DeviceArena arena(*gpu);
  const AttentionParams device = arena.CopyAttention(b.Params(cache, 2));
  const absl::Status status = gpu->PagedAttention(device);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
  EXPECT_NE(status.message().find("head_dim=96"), absl::string_view::npos) << status;
}

TEST(CudaAttentionErrorTest, BadBlockTableEntryIsInvalidArgumentAtSynchronize) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  std::mt19937 rng(2);
  TestCache cache = BuildCache(DType::kBF16, 2, 64, 16, {40}, rng);
  cache.block_tables[1] = static_cast<int32_t>(cache.num_blocks + 5);
  Batch b;
  AddToken(b, 0, 40, 0, 4 * 64, rng, false);
  test::DeviceArena arena(*gpu);
  const AttentionParams device = arena.CopyAttention(b.Params(cache, 4));
  ASSERT_TRUE(gpu->PagedAttention(device).ok());
  const absl::Status status = gpu->Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("block table entry"), absl::string_view::npos) << status;
  EXPECT_TRUE(gpu->Synchronize().ok()) << "the error is reported once";
}

}  // namespace
}  // namespace gqa::cuda
