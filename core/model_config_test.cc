#include "core/model_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

ModelConfig SmolLm2Shape() {
  ModelConfig config;
  config.num_layers = 30;
  config.hidden_size = 576;
  config.num_query_heads = 9;
  config.num_kv_heads = 3;
  config.head_dim = 64;
  config.intermediate_size = 1536;
  config.vocab_size = 49152;
  config.context_tokens = 8192;
  return config;
}

TEST(ModelConfigTest, AcceptsGqaMhaMqa) {
  ModelConfig config = SmolLm2Shape();
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_EQ(config.group_size(), 3);
  config.num_kv_heads = 9;
  EXPECT_TRUE(config.Validate().ok());
  config.num_kv_heads = 1;
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_EQ(config.group_size(), 9);
}

TEST(ModelConfigTest, RejectsKvHeadsNotDividingQueryHeads) {
  ModelConfig config = SmolLm2Shape();
  config.num_kv_heads = 2;
  absl::Status status = config.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("num_kv_heads=2"));
  config.num_kv_heads = 18;
  EXPECT_EQ(config.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModelConfigTest, RejectsZeroSizesNamingTheField) {
  ModelConfig config = SmolLm2Shape();
  config.head_dim = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("head_dim=0"));
  config = SmolLm2Shape();
  config.num_layers = -1;
  EXPECT_THAT(config.Validate().message(), HasSubstr("num_layers=-1"));
}

TEST(ModelConfigTest, RejectsBadRopeAndEps) {
  ModelConfig config = SmolLm2Shape();
  config.rope_theta = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("rope_theta"));
  config = SmolLm2Shape();
  config.norm_eps = 0;
  EXPECT_THAT(config.Validate().message(), HasSubstr("norm_eps"));
}

}  // namespace
}  // namespace gqa
