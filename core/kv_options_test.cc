#include "core/kv_options.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

TEST(KvOptionsTest, ParsesEachPolicy) {
  EXPECT_EQ(*ParseKvPolicy("full"), KvPolicy::Full());
  EXPECT_EQ(*ParseKvPolicy("streaming:4+1020"), KvPolicy::Streaming(4, 1020));
  EXPECT_EQ(*ParseKvPolicy("h2o:128+64"), KvPolicy::H2o(128, 64));
  EXPECT_EQ(*ParseKvPolicy("window:1024"), KvPolicy::Window(1024));
}

TEST(KvOptionsTest, StreamingWithOnlyAWindowGetsFourSinks) {
  absl::StatusOr<KvPolicy> policy = ParseKvPolicy("streaming:1020");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->sink_tokens, 4);
  EXPECT_EQ(policy->window_tokens, 1020);
  EXPECT_EQ(FormatKvPolicy(*policy), "streaming:4+1020");
}

TEST(KvOptionsTest, FormatParseRoundTrip) {
  for (const std::string text : {"full", "streaming:4+1020", "streaming:1+1", "h2o:128+128",
                                 "h2o:7+9", "window:1", "window:999999999999999999"}) {
    absl::StatusOr<KvPolicy> policy = ParseKvPolicy(text);
    ASSERT_TRUE(policy.ok()) << text << ": " << policy.status();
    EXPECT_EQ(FormatKvPolicy(*policy), text);
  }
  for (const KvPolicy& policy : {KvPolicy::Full(), KvPolicy::Streaming(4, 252), KvPolicy::H2o(1, 2),
                                 KvPolicy::Window(4096)}) {
    absl::StatusOr<KvPolicy> parsed = ParseKvPolicy(FormatKvPolicy(policy));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, policy);
  }
}

TEST(KvOptionsTest, TokenBoundAndTokensHeld) {
  EXPECT_EQ(KvPolicy::Full().TokenBound(), std::nullopt);
  EXPECT_EQ(KvPolicy::Streaming(4, 252).TokenBound(), 256);
  EXPECT_EQ(KvPolicy::H2o(100, 28).TokenBound(), 128);
  EXPECT_EQ(KvPolicy::Window(512).TokenBound(), 512);
  EXPECT_EQ(KvPolicy::Full().TokensHeld(100000), 100000);
  EXPECT_EQ(KvPolicy::Streaming(4, 252).TokensHeld(100000), 256);
  EXPECT_EQ(KvPolicy::Streaming(4, 252).TokensHeld(100), 100);
  EXPECT_EQ(KvPolicy::Window(512).TokensHeld(512), 512);
}

TEST(KvOptionsTest, KindNames) {
  EXPECT_EQ(KvPolicyKindName(KvPolicy::Kind::kFull), "full");
  EXPECT_EQ(KvPolicyKindName(KvPolicy::Kind::kStreaming), "streaming");
  EXPECT_EQ(KvPolicyKindName(KvPolicy::Kind::kH2o), "h2o");
  EXPECT_EQ(KvPolicyKindName(KvPolicy::Kind::kWindow), "window");
}

void ExpectPolicyError(const std::string& text, const std::string& expected) {
  absl::StatusOr<KvPolicy> policy = ParseKvPolicy(text);
  ASSERT_FALSE(policy.ok()) << text << " parsed as " << FormatKvPolicy(*policy);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument) << text;
  const std::string message(policy.status().message());
  EXPECT_THAT(message, HasSubstr("--kv-policy '" + text + "'"));
  EXPECT_THAT(message, HasSubstr(expected)) << text;
}

TEST(KvOptionsTest, RejectsUnknownPolicies) {
  for (const char* text : {"", "Full", "fulll", "sliding:8", "streaming4+1020", " full", "lru"}) {
    ExpectPolicyError(text, "full|streaming:S+W|h2o:H+R|window:W");
  }
}

TEST(KvOptionsTest, RejectsArgumentsToFull) {
  ExpectPolicyError("full:4", "full without arguments");
  ExpectPolicyError("full:", "full without arguments");
}

TEST(KvOptionsTest, RejectsMalformedStreaming) {
  for (const char* text : {"streaming", "streaming:", "streaming:0+1020", "streaming:4+0",
                           "streaming:0", "streaming:4+", "streaming:+4", "streaming:4+4+4",
                           "streaming:-4+1020", "streaming:4 +1020", "streaming:x+1"}) {
    ExpectPolicyError(text, "streaming:S+W");
  }
}

TEST(KvOptionsTest, RejectsMalformedH2o) {
  for (const char* text :
       {"h2o", "h2o:5", "h2o:0+128", "h2o:128+0", "h2o:128+128+1", "h2o:1.5+2", "h2o:0x10+1"}) {
    ExpectPolicyError(text, "expected h2o:H+R with positive integers, e.g. h2o:128+128");
  }
}

TEST(KvOptionsTest, RejectsMalformedWindow) {
  for (const char* text : {"window", "window:", "window:0", "window:-1", "window:4+4", "window:1e3",
                           "window:9999999999999999999"}) {
    ExpectPolicyError(text, "window:W");
  }
}

TEST(KvOptionsTest, ParsesKvDType) {
  EXPECT_EQ(*ParseKvDType("f32"), DType::kF32);
  EXPECT_EQ(*ParseKvDType("f16"), DType::kF16);
  EXPECT_EQ(*ParseKvDType("bf16"), DType::kBF16);
  EXPECT_EQ(*ParseKvDType("fp8-e4m3"), DType::kFp8E4M3);
  EXPECT_EQ(*ParseKvDType("fp8-e5m2"), DType::kFp8E5M2);
  for (const char* text : {"", "fp8", "BF16", "int8", "e4m3"}) {
    absl::StatusOr<DType> dtype = ParseKvDType(text);
    ASSERT_FALSE(dtype.ok()) << text;
    EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(dtype.status().message(), HasSubstr("--kv-dtype '" + std::string(text) + "'"));
    EXPECT_THAT(dtype.status().message(), HasSubstr("f32|f16|bf16|fp8-e4m3|fp8-e5m2"));
  }
}

}  // namespace
}  // namespace gqa
