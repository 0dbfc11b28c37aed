#include "worker/engine/step_plan.h"

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(StepPlanTest, ForwardPlanRoundTripsWithSlotMaps) {
  StepPlan plan;
  plan.kind = StepKind::kForward;
  plan.want_column_sums = true;
  ForwardBatch& b = plan.batch;
  b.token_ids = {5, 6, 7};
  b.positions = {0, 1, 9};
  b.seq_idx = {0, 0, 1};
  b.context_lens = {1, 2, 4};
  b.slot_mapping = {16, 17, 40};
  b.block_tables = {1, 0, 2, 3};
  b.num_seqs = 2;
  b.max_blocks_per_seq = 2;
  b.logit_token_idx = {1, 2};
  b.num_sinks = {0, 1};
  b.recent_window = {0, 2};
  b.column_sum_offsets = {-1, 0, 3};
  b.column_sums_per_layer = 6;
  // One layer, two sequences: a shared map, then a per-head map (2 heads, stride 8).
  const std::vector<int32_t> shared = {0, 1};
  std::vector<int32_t> per_head(12, 0);
  for (int i = 0; i < 12; ++i) per_head[i] = 100 + i;
  b.slot_positions = {{shared.data(), 0}, {per_head.data(), 8}};
  const std::string bytes = SerializeStepPlan(plan, /*num_kv_heads=*/2);

  auto parsed = ParseStepPlan(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, StepKind::kForward);
  EXPECT_TRUE(parsed->want_column_sums);
  const ForwardBatch& p = parsed->batch;
  EXPECT_EQ(p.token_ids, b.token_ids);
  EXPECT_EQ(p.positions, b.positions);
  EXPECT_EQ(p.context_lens, b.context_lens);
  EXPECT_EQ(p.slot_mapping, b.slot_mapping);
  EXPECT_EQ(p.block_tables, b.block_tables);
  EXPECT_EQ(p.num_seqs, 2);
  EXPECT_EQ(p.max_blocks_per_seq, 2);
  EXPECT_EQ(p.logit_token_idx, b.logit_token_idx);
  EXPECT_EQ(p.recent_window, b.recent_window);
  EXPECT_EQ(p.column_sum_offsets, b.column_sum_offsets);
  EXPECT_EQ(p.column_sums_per_layer, 6);
  ASSERT_EQ(p.slot_positions.size(), 2u);
  EXPECT_EQ(p.slot_positions[0].head_stride, 0);
  EXPECT_EQ(p.slot_positions[0].positions[1], 1);
  EXPECT_EQ(p.slot_positions[1].head_stride, 8);
  // Sequence 1's context is 4: head 1's slots [8, 12) travel too.
  EXPECT_EQ(p.slot_positions[1].positions[0], 100);
  EXPECT_EQ(p.slot_positions[1].positions[11], 111);
}

TEST(StepPlanTest, OtherKindsRoundTrip) {
  StepPlan copies;
  copies.kind = StepKind::kCopyBlocks;
  copies.copies = {{3, 9}, {4, 10}};
  auto parsed = ParseStepPlan(SerializeStepPlan(copies, 1));
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->copies.size(), 2u);
  EXPECT_EQ(parsed->copies[1].src, 4);
  EXPECT_EQ(parsed->copies[1].dst, 10);
  for (StepKind kind : {StepKind::kHeartbeat, StepKind::kShutdown}) {
    StepPlan plan;
    plan.kind = kind;
    auto round = ParseStepPlan(SerializeStepPlan(plan, 1));
    ASSERT_TRUE(round.ok());
    EXPECT_EQ(round->kind, kind);
  }
}

TEST(StepPlanTest, MalformedMessagesAreInvalidArgument) {
  StepPlan plan;
  plan.kind = StepKind::kForward;
  plan.batch.token_ids = {1, 2, 3};
  const std::string bytes = SerializeStepPlan(plan, 1);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{5}, bytes.size() - 1}) {
    EXPECT_EQ(ParseStepPlan(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kInvalidArgument) << cut;
  }
  EXPECT_EQ(ParseStepPlan(bytes + "x").status().code(), absl::StatusCode::kInvalidArgument);
  std::string bad_kind = bytes;
  bad_kind[4] = 42;
  EXPECT_EQ(ParseStepPlan(bad_kind).status().code(), absl::StatusCode::kInvalidArgument);
  std::string bad_magic = bytes;
  bad_magic[0] ^= 1;
  EXPECT_EQ(ParseStepPlan(bad_magic).status().code(), absl::StatusCode::kInvalidArgument);
  // A count larger than the message.
  std::string huge = bytes;
  huge[6] = static_cast<char>(0xff);
  EXPECT_EQ(ParseStepPlan(huge).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa
