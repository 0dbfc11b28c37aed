#include "worker/engine/convert/kv_head_pooling.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CheckKvHeadsTest, AcceptsDivisorsOnly) {
  EXPECT_TRUE(CheckKvHeads(3, 1).ok());
  EXPECT_TRUE(CheckKvHeads(3, 3).ok());
  EXPECT_TRUE(CheckKvHeads(8, 2).ok());
  const absl::Status not_divisor = CheckKvHeads(3, 2);
  EXPECT_EQ(not_divisor.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_divisor.message(),
            "--kv-heads 2 does not divide the model's 3 KV heads; choose one of 1, 3");
  EXPECT_THAT(CheckKvHeads(3, 0).message(), HasSubstr("--kv-heads 0 must be at least 1"));
  EXPECT_THAT(CheckKvHeads(4, 8).message(), HasSubstr("choose one of 1, 2, 4"));
  EXPECT_EQ(CheckKvHeads(4, -1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(MeanPoolKvHeadsTest, AveragesContiguousRunsOfHeads) {
  // 4 heads of head_dim 1 and 2 columns: head i = {i, 10 i}.
  const std::vector<float> in = {0, 0, 1, 10, 2, 20, 3, 30};
  EXPECT_THAT(MeanPoolKvHeads(in, 2, 1, 4, 2), ElementsAre(0.5f, 5.0f, 2.5f, 25.0f));
  EXPECT_THAT(MeanPoolKvHeads(in, 2, 1, 4, 1), ElementsAre(1.5f, 15.0f));
  EXPECT_EQ(MeanPoolKvHeads(in, 2, 1, 4, 4), in);
  // head_dim 2, one column (a bias): heads {1, 2}, {3, 4}, {5, 7}.
  EXPECT_THAT(MeanPoolKvHeads({1, 2, 3, 4, 5, 7}, 1, 2, 3, 1), ElementsAre(3.0f, 13.0f / 3.0f));
}

TEST(MeanPoolKvHeadsTest, MeanOfIdenticalHeadsIsExact) {
  const std::vector<float> head = {0.1f, -3.7e-5f, 12345.678f, 1e-30f, -0.3333333f, 7.0f};
  std::vector<float> in;
  for (int copy = 0; copy < 9; ++copy) in.insert(in.end(), head.begin(), head.end());
  EXPECT_EQ(MeanPoolKvHeads(in, 3, 2, 9, 1), head);
  EXPECT_EQ(MeanPoolKvHeads(in, 3, 2, 9, 3).size(), 3 * head.size());
}

}  // namespace
}  // namespace gqa
