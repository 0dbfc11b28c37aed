#include "worker/kv/kv_block_transfer.h"

#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

// A two-layer cache in plain vectors, every byte distinct-ish.
struct HostCache {
  HostCache(DType dtype, int64_t blocks) {
    for (int layer = 0; layer < 2; ++layer) {
      const int64_t bytes = blocks * 3 * 4 * 8 * DTypeSize(dtype);
      k.emplace_back(bytes);
      v.emplace_back(bytes);
      ks.emplace_back(blocks * 3 * 4);
      vs.emplace_back(blocks * 3 * 4);
      for (size_t i = 0; i < k.back().size(); ++i) {
        k.back()[i] = static_cast<char>(i * 7 + layer);
        v.back()[i] = static_cast<char>(i * 13 + layer);
      }
      std::iota(ks.back().begin(), ks.back().end(), 1.0f + layer);
      std::iota(vs.back().begin(), vs.back().end(), 100.0f + layer);
      PagedKvView view;
      view.k = k.back().data();
      view.v = v.back().data();
      view.k_scale = ks.back().data();
      view.v_scale = vs.back().data();
      view.dtype = dtype;
      view.num_blocks = blocks;
      view.num_kv_heads = 3;
      view.head_dim = 8;
      view.block_size = 4;
      views.push_back(view);
    }
  }
  std::vector<std::vector<char>> k, v;
  std::vector<std::vector<float>> ks, vs;
  std::vector<PagedKvView> views;
};

TEST(KvBlockTransferTest, ABlockComesBackBitIdenticalInAnotherSlot) {
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kFp8E4M3}) {
    HostCache cache(dtype, 5);
    std::string payload;
    ASSERT_TRUE(ExportKvBlock(cache.views, 1, &payload).ok());
    EXPECT_EQ(static_cast<int64_t>(payload.size()), KvBlockPayloadBytes(cache.views));
    ASSERT_TRUE(ImportKvBlock(cache.views, 3, payload).ok());
    std::string again;
    ASSERT_TRUE(ExportKvBlock(cache.views, 3, &again).ok());
    EXPECT_EQ(again, payload) << DTypeName(dtype);
    std::string other;
    ASSERT_TRUE(ExportKvBlock(cache.views, 2, &other).ok());
    EXPECT_NE(other, payload);  // blocks do hold different bytes
  }
}

TEST(KvBlockTransferTest, PayloadIsLayerHeadKvTokenDimThenScales) {
  HostCache cache(DType::kFp8E4M3, 2);
  std::string payload;
  ASSERT_TRUE(ExportKvBlock(cache.views, 1, &payload).ok());
  // 2 layers x 3 heads x 2 x 4 tokens x (8 bytes + 4 scale bytes).
  ASSERT_EQ(payload.size(), 2u * 3 * 2 * 4 * (8 + 4));
  const int64_t run = 4 * 8;  // one head's K rows of the block
  // Layer 0, head 1, V: the cache's V bytes of (block 1, head 1).
  EXPECT_EQ(payload.substr((1 * 2 + 1) * run, run),
            std::string(cache.v[0].data() + (1 * 3 + 1) * run, run));
  // The scales follow the elements: layer 1, head 0, K first.
  const size_t scales = 2 * 3 * 2 * run;
  float first_scale = 0;
  std::memcpy(&first_scale, payload.data() + scales + (3 * 2) * 4 * sizeof(float), sizeof(float));
  EXPECT_EQ(first_scale, cache.ks[1][(1 * 3 + 0) * 4]);
}

TEST(KvBlockTransferTest, BadBlocksAndSizesAreRefused) {
  HostCache cache(DType::kF32, 2);
  std::string payload;
  EXPECT_EQ(ExportKvBlock(cache.views, 2, &payload).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ImportKvBlock(cache.views, 0, "short").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa
