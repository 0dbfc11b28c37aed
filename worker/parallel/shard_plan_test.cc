#include "worker/parallel/shard_plan.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

ModelConfig SmolLm2() {
  ModelConfig c;
  c.num_layers = 30;
  c.hidden_size = 576;
  c.num_query_heads = 9;
  c.num_kv_heads = 3;
  c.head_dim = 64;
  c.intermediate_size = 1536;
  c.vocab_size = 49152;
  c.context_tokens = 8192;
  return c;
}

TEST(ShardPlanTest, SmolLm2AcceptsOnlyTp1And3) {
  auto tp1 = ShardPlan::Make(SmolLm2(), 1, 0);
  ASSERT_TRUE(tp1.ok());
  EXPECT_EQ(tp1->num_q_heads, 9);
  EXPECT_EQ(tp1->num_kv_heads, 3);
  for (int rank = 0; rank < 3; ++rank) {
    auto plan = ShardPlan::Make(SmolLm2(), 3, rank);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->num_kv_heads, 1);
    EXPECT_EQ(plan->kv_head_begin, rank);
    EXPECT_EQ(plan->q_head_begin, 3 * rank);  // exactly the query heads of its group
    EXPECT_EQ(plan->ffn_size, 512);
  }
  EXPECT_THAT(ShardPlan::Make(SmolLm2(), 6, 0).status().message(), HasSubstr("query heads"));
  EXPECT_THAT(ShardPlan::Make(SmolLm2(), 9, 0).status().message(), HasSubstr("MLP"));
  EXPECT_EQ(ShardPlan::Make(SmolLm2(), 2, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardPlanTest, ReplicatesKvHeadsWhenTpExceedsThem) {
  ModelConfig c = SmolLm2();
  c.num_query_heads = 8;
  c.num_kv_heads = 2;
  c.intermediate_size = 256;
  for (int rank = 0; rank < 4; ++rank) {
    auto plan = ShardPlan::Make(c, 4, rank);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kv_replication, 2);
    EXPECT_EQ(plan->num_kv_heads, 1);
    EXPECT_EQ(plan->kv_head_begin, rank / 2);
    EXPECT_EQ(plan->num_q_heads, 2);
    EXPECT_EQ(plan->q_head_begin, 2 * rank);  // inside KV head rank/2's group of 4
  }
}

TEST(ShardPlanTest, RejectsBadRankAndVocab) {
  EXPECT_EQ(ShardPlan::Make(SmolLm2(), 3, 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShardPlan::Make(SmolLm2(), 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  ModelConfig c = SmolLm2();
  c.vocab_size = 49153;
  EXPECT_THAT(ShardPlan::Make(c, 3, 0).status().message(), HasSubstr("vocabulary"));
}

}  // namespace
}  // namespace gqa
