#include "worker/engine/rank_heads.h"

#include "gtest/gtest.h"

namespace gqa {
namespace {

// Two tokens of one sequence over a model of 3 KV heads and 2 layers.
ForwardBatch ThreeHeadBatch(const std::vector<int32_t>& map) {
  ForwardBatch b;
  b.token_ids = {1, 2};
  b.positions = {4, 5};
  b.seq_idx = {0, 0};
  b.context_lens = {2, 3};
  b.num_seqs = 1;
  b.slot_positions = {{map.data(), 4}, {map.data(), 4}};  // per-head stride 4
  // [layer, token, head]: 100 * layer + 10 * token + head
  b.head_slot_mapping = {0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112};
  b.column_sum_offsets = {0, 6};  // token 0: 3 heads x 2 slots, token 1: 3 x 3
  b.column_sums_per_layer = 15;
  return b;
}

TEST(RankHeadsTest, ARankRunsOnItsHeadsAndItsSumsGoBackInPlace) {
  const std::vector<int32_t> map = {0, 1, -1, -1, 0, 2, -1, -1, 1, 2, 3, -1};
  const ForwardBatch b = ThreeHeadBatch(map);
  RankHeads heads(/*model_kv_heads=*/3, /*begin=*/1, /*count=*/1);
  EXPECT_FALSE(heads.whole());
  ForwardBatch rank;
  heads.Localize(b, rank);
  EXPECT_EQ(rank.token_ids, b.token_ids);
  EXPECT_EQ(rank.slot_positions[1].positions, map.data() + 4);
  EXPECT_EQ(rank.slot_positions[1].head_stride, 4);
  EXPECT_EQ(rank.head_slot_mapping, (std::vector<int64_t>{1, 11, 101, 111}));
  EXPECT_EQ(rank.column_sum_offsets, (std::vector<int64_t>{0, 2}));  // 1 head x 2 slots first
  EXPECT_EQ(rank.column_sums_per_layer, 5);

  std::vector<float> rank_sums(10);
  for (int i = 0; i < 10; ++i) rank_sums[i] = 1.0f + static_cast<float>(i);
  std::vector<float> model(30, 0.0f);
  heads.ScatterColumnSums(b, rank_sums, model);
  // Per layer: token 0's head 1 at 0 + 1 * 2, token 1's head 1 at 6 + 1 * 3.
  EXPECT_EQ(model, (std::vector<float>{0, 0, 1, 2, 0, 0, 0, 0, 0, 3, 4,  5,  0, 0, 0,
                                       0, 0, 6, 7, 0, 0, 0, 0, 0, 8, 9, 10, 0, 0, 0}));
}

TEST(RankHeadsTest, OnlyStepsWithPerHeadArraysAreSplit) {
  const std::vector<int32_t> map(12, 0);
  const ForwardBatch h2o = ThreeHeadBatch(map);
  ForwardBatch full = h2o;
  full.slot_positions.clear();
  full.head_slot_mapping.clear();
  full.column_sum_offsets.clear();
  ForwardBatch shared_maps = full;  // streaming/window: one map for every head
  shared_maps.slot_positions = {{map.data(), 0}, {map.data(), 0}};
  const RankHeads part(3, 1, 1);
  EXPECT_TRUE(part.Splits(h2o));
  EXPECT_FALSE(part.Splits(full));
  EXPECT_FALSE(part.Splits(shared_maps));
  EXPECT_FALSE(RankHeads(3, 0, 3).Splits(h2o)) << "a whole rank runs the batch as it is";
}

TEST(RankHeadsTest, OnlyARankOwningEveryHeadIsWhole) {
  EXPECT_TRUE(RankHeads(3, 0, 3).whole());
  EXPECT_TRUE(RankHeads(1, 0, 1).whole());  // MQA, the head replicated
  EXPECT_FALSE(RankHeads(4, 0, 2).whole());
}

}  // namespace
}  // namespace gqa
