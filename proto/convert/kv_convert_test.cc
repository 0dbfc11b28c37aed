#include "proto/convert/kv_convert.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

TEST(KvConvertTest, PoliciesRoundTrip) {
  for (const KvPolicy& policy : {KvPolicy::Full(), KvPolicy::Streaming(4, 252),
                                 KvPolicy::H2o(10, 20), KvPolicy::Window(64)}) {
    absl::StatusOr<KvPolicy> back = KvPolicyFromProto(KvPolicyToProto(policy));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, policy);
  }
}

TEST(KvConvertTest, UnsetPolicyIsFullAndStreamingDefaultsItsSinks) {
  EXPECT_EQ(*KvPolicyFromProto(v1::KvPolicy()), KvPolicy::Full());
  v1::KvPolicy proto;
  proto.mutable_streaming()->set_window_tokens(100);
  EXPECT_EQ(*KvPolicyFromProto(proto), KvPolicy::Streaming(kDefaultSinkTokens, 100));
}

TEST(KvConvertTest, NonPositiveSizesNameTheField) {
  v1::KvPolicy proto;
  proto.mutable_h2o()->set_heavy_tokens(0);
  proto.mutable_h2o()->set_recent_tokens(5);
  absl::StatusOr<KvPolicy> policy = KvPolicyFromProto(proto);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(policy.status().message(), HasSubstr("kv_policy.h2o"));
  proto.mutable_window()->set_window_tokens(-1);
  EXPECT_THAT(KvPolicyFromProto(proto).status().message(), HasSubstr("kv_policy.window"));
}

TEST(KvConvertTest, DTypesRoundTripAndUnspecifiedIsNone) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3, DType::kFp8E5M2}) {
    EXPECT_EQ(DTypeFromProto(DTypeToProto(dtype)), dtype);
  }
  EXPECT_EQ(DTypeFromProto(v1::KV_DTYPE_UNSPECIFIED), std::nullopt);
}

TEST(KvConvertTest, ShapeCarriesEveryField) {
  ModelConfig config;
  config.num_layers = 30;
  config.num_query_heads = 9;
  config.num_kv_heads = 3;
  config.head_dim = 64;
  config.hidden_size = 576;
  config.vocab_size = 49152;
  config.context_tokens = 8192;
  const v1::ModelShape shape = ModelShapeToProto(config);
  EXPECT_EQ(shape.num_layers(), 30);
  EXPECT_EQ(shape.num_query_heads(), 9);
  EXPECT_EQ(shape.num_kv_heads(), 3);
  EXPECT_EQ(shape.head_dim(), 64);
  EXPECT_EQ(shape.hidden_size(), 576);
  EXPECT_EQ(shape.vocab_size(), 49152);
  EXPECT_EQ(shape.trained_context_tokens(), 8192);
}

}  // namespace
}  // namespace gqa
