#include "tools/gqa_loadgen/options.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<LoadgenOptions> Parse(std::vector<const char*> args) {
  return ParseLoadgenOptions(args);
}

std::string Error(std::vector<const char*> args) {
  absl::StatusOr<LoadgenOptions> o = Parse(args);
  EXPECT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(o.status().message());
}

TEST(OptionsTest, ParsesAnOpenLoopRun) {
  absl::StatusOr<LoadgenOptions> o =
      Parse({"--target", "localhost:9000", "--rate", "2.5", "--arrival", "gamma", "--burstiness",
             "0.5", "--requests", "100", "--input-len", "64:128", "--output-len", "32",
             "--shared-prefix", "2,256,0.5", "--kv-policy", "streaming:4+60", "--kv-dtype",
             "fp8-e4m3", "--slo", "ttft=500ms,tpot=50ms", "--seed", "7", "--warmup", "5",
             "--api-key", "k1", "--json", "out.json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, LoopMode::kOpen);
  EXPECT_DOUBLE_EQ(o->arrival.rate_per_s, 2.5);
  EXPECT_EQ(o->arrival.kind, ArrivalKind::kGamma);
  EXPECT_DOUBLE_EQ(o->arrival.gamma_shape, 0.5);
  EXPECT_EQ(o->arrival.seed, 7u);
  EXPECT_EQ(*o->num_requests, 100);
  EXPECT_EQ(o->input.min_tokens, 64);
  EXPECT_EQ(o->shared_prefix->num_prefixes, 2);
  EXPECT_EQ(o->settings.kv_policy->kind, KvPolicy::Kind::kStreaming);
  EXPECT_EQ(*o->settings.kv_dtype, DType::kFp8E4M3);
  EXPECT_TRUE(o->settings.ignore_eos);
  EXPECT_EQ(o->warmup_requests, 5);
  EXPECT_EQ(o->target.api_key, "k1");
  EXPECT_EQ(o->target.api, Api::kInference);
}

TEST(OptionsTest, ParsesClosedLoopSweepAndCompare) {
  absl::StatusOr<LoadgenOptions> o = Parse({"--target", "w:1", "--api", "worker", "--concurrency",
                                            "8", "--duration", "2m", "--tls-ca", "ca.pem"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, LoopMode::kClosed);
  EXPECT_EQ(o->concurrency, 8);
  EXPECT_DOUBLE_EQ(*o->duration_s, 120);
  EXPECT_TRUE(o->target.tls);
  o = Parse({"--target", "r:1", "--sweep", "rate:1,2,4", "--requests", "10"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->sweep->values, (std::vector<double>{1, 2, 4}));
  o = Parse({"compare", "a.json", "b.json"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->compare_paths, (std::vector<std::string>{"a.json", "b.json"}));
}

TEST(OptionsTest, BadFlagsNameTheFlag) {
  EXPECT_THAT(Error({"--rate", "1", "--requests", "1"}), HasSubstr("--target"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "fast", "--requests", "1"}),
              HasSubstr("--rate 'fast'"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--concurrency", "2", "--requests", "1"}),
              HasSubstr("exactly one of --rate"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1"}), HasSubstr("--requests N or --duration"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "0"}),
              HasSubstr("--requests"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--bogus", "3"}),
              HasSubstr("--bogus"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--api", "http"}),
              HasSubstr("--api 'http'"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--kv-policy", "h2o:5"}),
              HasSubstr("--kv-policy"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--burstiness", "2"}),
              HasSubstr("--burstiness needs --arrival gamma"));
  EXPECT_THAT(Error({"--target", "a:1", "--sweep", "speed:1,2", "--requests", "1"}),
              HasSubstr("--sweep 'speed:1,2'"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--quality"}),
              HasSubstr("--quality compares"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--api", "worker",
                     "--prompt-format", "text"}),
              HasSubstr("--prompt-format text needs --api inference"));
  EXPECT_THAT(Error({"--target", "a:1", "--rate", "1", "--requests", "1", "--slo", "ttft=1"}),
              HasSubstr("--slo"));
  EXPECT_THAT(Error({"--target", "a:1", "--concurrency", "2", "--requests", "1", "--arrival",
                     "poisson"}),
              HasSubstr("--arrival"));
  EXPECT_THAT(Error({"compare", "a.json"}), HasSubstr("compare takes two result files"));
}

}  // namespace
}  // namespace gqa::loadgen
