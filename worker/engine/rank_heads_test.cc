#include "worker/engine/rank_heads.h"

#include "gtest/gtest.h"

namespace gqa {
namespace {

// Two tokens of one sequence over a model of 3 KV heads; the rank owns head 1.
ForwardBatch ThreeHeadBatch(const std::vector<int32_t>& map) {
  ForwardBatch b;
  b.token_ids = {1, 2};
  b.positions = {4, 5};
  b.seq_idx = {0, 0};
  b.context_lens = {2, 3};
  b.num_seqs = 1;
  b.slot_positions = {{map.data(), 4}};  // one layer, per-head stride 4
  // [layer, token, head]: 10 * token + head
  b.head_slot_mapping = {0, 1, 2, 10, 11, 12};
  b.column_sum_offsets = {0, 6};  // token 0: 3 heads x 2 slots, token 1: 3 x 3
  b.column_sums_per_layer = 15;
  return b;
}

TEST(RankHeadsTest, ARankSeesAndWritesOnlyItsHeads) {
  const std::vector<int32_t> map = {0, 1, -1, -1, 0, 2, -1, -1, 1, 2, 3, -1};
  const ForwardBatch b = ThreeHeadBatch(map);
  RankHeads heads(/*model_kv_heads=*/3, /*begin=*/1, /*count=*/1);
  EXPECT_FALSE(heads.whole());
  const SlotPositions* maps = heads.SlotMaps(b, 0);
  EXPECT_EQ(maps[0].positions, map.data() + 4);
  EXPECT_EQ(maps[0].head_stride, 4);
  const int64_t* slots = heads.HeadSlots(b, 0);
  EXPECT_EQ(slots[0], 1);
  EXPECT_EQ(slots[1], 11);

  heads.BeginColumnSums(b);
  EXPECT_EQ(heads.local_sum_offsets()[0], 0);
  EXPECT_EQ(heads.local_sum_offsets()[1], 2);  // token 0 took 1 head x 2 slots
  float* local = heads.local_sums();
  for (int i = 0; i < 5; ++i) local[i] = 1.0f + static_cast<float>(i);
  std::vector<float> model(15, 0.0f);
  heads.ScatterColumnSums(b, model.data());
  // Token 0's head 1 at 0 + 1 * 2, token 1's head 1 at 6 + 1 * 3.
  EXPECT_EQ(model, (std::vector<float>{0, 0, 1, 2, 0, 0, 0, 0, 0, 3, 4, 5, 0, 0, 0}));
}

TEST(RankHeadsTest, AWholeRankUsesTheBatchsArrays) {
  const std::vector<int32_t> map(12, 0);
  const ForwardBatch b = ThreeHeadBatch(map);
  RankHeads heads(3, 0, 3);
  EXPECT_TRUE(heads.whole());
  EXPECT_EQ(heads.SlotMaps(b, 0), b.slot_positions.data());
  EXPECT_EQ(heads.HeadSlots(b, 0), b.head_slot_mapping.data());
  EXPECT_EQ(heads.HeadSlots(ForwardBatch(), 0), nullptr);
}

}  // namespace
}  // namespace gqa
