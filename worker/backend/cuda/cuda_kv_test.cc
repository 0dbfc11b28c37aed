// CUDA KV cache writes and block copies against the CPU backend: the stored
// bytes and FP8 scales must be identical (both round to nearest even, FP8
// saturating, the scale from the same f32 arithmetic), with slot mappings
// and per-KV-head slot mappings; bad slots and conflicting copies are
// INVALID_ARGUMENT at Synchronize(). Skips without a GPU.
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/cuda_test_util.h"

namespace gqa::cuda {
namespace {

struct HostCache {
  std::vector<uint8_t> k, v;
  std::vector<float> k_scale, v_scale;
  PagedKvView view;
};

HostCache MakeHostCache(DType dtype, int64_t blocks, int64_t heads, int64_t dim, int64_t bs) {
  HostCache c;
  const int64_t slots = blocks * heads * bs;
  c.k.assign(slots * dim * DTypeSize(dtype), 0);
  c.v = c.k;
  c.k_scale.assign(slots, 0.0f);
  c.v_scale = c.k_scale;
  c.view = {c.k.data(),
            c.v.data(),
            IsFp8(dtype) ? c.k_scale.data() : nullptr,
            IsFp8(dtype) ? c.v_scale.data() : nullptr,
            dtype,
            blocks,
            heads,
            dim,
            bs};
  return c;
}

class CudaKvTest : public ::testing::TestWithParam<DType> {};

TEST_P(CudaKvTest, WriteKvStoresTheCpuBytesAndScales) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = MakeCpuBackend({});
  const int64_t tokens = 6, heads = 3, dim = 64, blocks = 5, bs = 16;
  std::mt19937 rng(static_cast<int>(GetParam()));
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> k(tokens * heads * dim), v(k.size());
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng) * 1000.0f;     // wide range: scales matter
  for (int64_t i = 0; i < dim; ++i) k[i] = 0.0f;  // an all-zero row: scale 1
  const std::vector<int64_t> slots = {0, 17, 18, 79, 40, 3};
  std::vector<int64_t> head_slots(tokens * heads);
  for (int64_t i = 0; i < tokens * heads; ++i) head_slots[i] = (i * 7) % (blocks * bs);
  for (const bool per_head : {false, true}) {
    HostCache host = MakeHostCache(GetParam(), blocks, heads, dim, bs);
    test::DeviceArena arena(*gpu);
    KvWriteParams p{k.data(), v.data(),  slots.data(),
                    tokens,   host.view, per_head ? head_slots.data() : nullptr};
    KvWriteParams d = p;
    d.k = arena.Copy(k);
    d.v = arena.Copy(v);
    d.slot_mapping = arena.Copy(slots);
    d.head_slot_mapping = per_head ? arena.Copy(head_slots) : nullptr;
    d.cache = arena.CopyCache(host.view);
    ASSERT_TRUE(cpu->WriteKv(p).ok());
    ASSERT_TRUE(gpu->WriteKv(d).ok());
    ASSERT_TRUE(gpu->Synchronize().ok());
    EXPECT_EQ(arena.Read(static_cast<uint8_t*>(d.cache.k), host.k.size()), host.k) << per_head;
    EXPECT_EQ(arena.Read(static_cast<uint8_t*>(d.cache.v), host.v.size()), host.v) << per_head;
    if (IsFp8(GetParam())) {
      EXPECT_EQ(arena.Read(d.cache.k_scale, host.k_scale.size()), host.k_scale);
      EXPECT_EQ(arena.Read(d.cache.v_scale, host.v_scale.size()), host.v_scale);
    }
  }
}

TEST_P(CudaKvTest, CopyKvBlocksCopiesEveryHeadAndScale) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = MakeCpuBackend({});
  const int64_t heads = 2, dim = 128, blocks = 6, bs = 16;
  HostCache host = MakeHostCache(GetParam(), blocks, heads, dim, bs);
  std::mt19937 rng(9);
  for (uint8_t& b : host.k) b = static_cast<uint8_t>(rng() % 120);
  for (uint8_t& b : host.v) b = static_cast<uint8_t>(rng() % 120);
  for (float& s : host.k_scale) s = static_cast<float>(rng() % 1000) / 7.0f;
  for (float& s : host.v_scale) s = static_cast<float>(rng() % 1000) / 3.0f;
  test::DeviceArena arena(*gpu);
  const PagedKvView device = arena.CopyCache(host.view);
  const std::vector<int32_t> src = {0, 4}, dst = {5, 1};
  ASSERT_TRUE(gpu->CopyKvBlocks({device, arena.Copy(src), arena.Copy(dst), 2}).ok());
  ASSERT_TRUE(gpu->Synchronize().ok());
  ASSERT_TRUE(cpu->CopyKvBlocks({host.view, src.data(), dst.data(), 2}).ok());
  EXPECT_EQ(arena.Read(static_cast<uint8_t*>(device.k), host.k.size()), host.k);
  EXPECT_EQ(arena.Read(static_cast<uint8_t*>(device.v), host.v.size()), host.v);
  if (IsFp8(GetParam())) {
    EXPECT_EQ(arena.Read(device.k_scale, host.k_scale.size()), host.k_scale);
    EXPECT_EQ(arena.Read(device.v_scale, host.v_scale.size()), host.v_scale);
  }
  // A destination that is also a source: nothing is copied.
  const std::vector<int32_t> bad_src = {2, 3}, bad_dst = {3, 4};
  ASSERT_TRUE(gpu->CopyKvBlocks({device, arena.Copy(bad_src), arena.Copy(bad_dst), 2}).ok());
  const absl::Status status = gpu->Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(arena.Read(static_cast<uint8_t*>(device.k), host.k.size()), host.k);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaKvTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                           DType::kFp8E5M2),
                         [](const auto& info) { return test::DTypeTestName(info.param); });

TEST(CudaKvErrorTest, SlotOutsideTheCacheIsInvalidArgumentAtSynchronize) {
  GQA_CUDA_BACKEND_OR_SKIP(gpu);
  HostCache host = MakeHostCache(DType::kBF16, 2, 1, 64, 16);
  test::DeviceArena arena(*gpu);
  const std::vector<float> k(64, 1.0f);
  const std::vector<int64_t> slots = {32};  // 2 blocks x 16 slots: 0..31
  KvWriteParams d{arena.Copy(k), arena.Copy(k), arena.Copy(slots), 1, arena.CopyCache(host.view)};
  ASSERT_TRUE(gpu->WriteKv(d).ok());
  const absl::Status status = gpu->Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("slot 32"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace gqa::cuda
