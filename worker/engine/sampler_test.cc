#include "worker/engine/sampler.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};

TEST(SamplerTest, GreedyTakesArgmaxLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  EXPECT_EQ(SampleToken(kLogits, p, {}, {}, 0, 0).token_id, 1);
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfRawLogits) {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 2.0f;  // penalties change the choice, not the reported logprobs
  const SampledToken t = SampleToken(kLogits, p, {1, 3}, {}, 0, 3);
  double total = 0;
  for (float l : kLogits) total += std::exp(l);
  EXPECT_EQ(t.token_id, 2);
  EXPECT_NEAR(t.logprob, 2.0 - std::log(total), 1e-6);
  ASSERT_EQ(t.top_logprobs.size(), 3u);
  EXPECT_EQ(t.top_logprobs[0].first, 1);
  EXPECT_EQ(t.top_logprobs[1].first, 3);
  EXPECT_EQ(t.top_logprobs[2].first, 2);
}

TEST(SamplerTest, SameSeedAndIndexSameDrawWhateverTheHistory) {
  SamplingParams p;
  p.seed = 77;
  for (int64_t idx = 0; idx < 50; ++idx) {
    EXPECT_EQ(SampleToken(kLogits, p, {}, {}, idx, 0).token_id,
              SampleToken(kLogits, p, {4, 4}, {}, idx, 0).token_id);
  }
  EXPECT_EQ(SamplerUniform(1, 5), SamplerUniform(1, 5));
  EXPECT_NE(SamplerUniform(1, 5), SamplerUniform(2, 5));
  EXPECT_NE(SamplerUniform(1, 5), SamplerUniform(1, 6));
}

TEST(SamplerTest, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(5.0f)};  // 1:2:5
  SamplingParams p;
  p.seed = 3;
  std::vector<int> counts(3, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++counts[SampleToken(logits, p, {}, {}, i, 0).token_id];
  EXPECT_NEAR(counts[0] / double(draws), 1.0 / 8, 0.01);
  EXPECT_NEAR(counts[1] / double(draws), 2.0 / 8, 0.01);
  EXPECT_NEAR(counts[2] / double(draws), 5.0 / 8, 0.01);
}

TEST(SamplerTest, FiltersRestrictTheCandidates) {
  SamplingParams p;
  p.top_k = 2;  // tokens 1 and 3 only
  for (int i = 0; i < 200; ++i) {
    const int32_t id = SampleToken(kLogits, p, {}, {}, i, 0).token_id;
    EXPECT_TRUE(id == 1 || id == 3) << id;
  }
  p = SamplingParams();
  p.top_p = 0.01f;  // the single most likely token
  for (int i = 0; i < 50; ++i) EXPECT_EQ(SampleToken(kLogits, p, {}, {}, i, 0).token_id, 1);
  p = SamplingParams();
  p.min_p = 0.5f;  // e^2/e^3 = 0.37 < 0.5: only the two tied top tokens survive
  for (int i = 0; i < 200; ++i) {
    const int32_t id = SampleToken(kLogits, p, {}, {}, i, 0).token_id;
    EXPECT_TRUE(id == 1 || id == 3) << id;
  }
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesUseOutputCounts) {
  SamplingParams p;
  p.temperature = 0;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.4f;
  // Token 1 appeared twice: 3 - 0.5 - 0.8 = 1.7 < 2 (token 2); token 3 once: 3 - 0.9 = 2.1.
  EXPECT_EQ(SampleToken(kLogits, p, {}, {1, 1, 3}, 3, 0).token_id, 3);
  EXPECT_EQ(SampleToken(kLogits, p, {}, {1, 1, 3, 3}, 4, 0).token_id, 2);
}

TEST(SamplerTest, ValidationNamesTheField) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_THAT(ValidateSamplingParams(p).message(), HasSubstr("temperature=-1"));
  p = SamplingParams();
  p.top_p = 0;
  EXPECT_THAT(ValidateSamplingParams(p).message(), HasSubstr("top_p"));
  p = SamplingParams();
  p.min_p = 1;
  EXPECT_EQ(ValidateSamplingParams(p).code(), absl::StatusCode::kInvalidArgument);
  p = SamplingParams();
  p.top_k = -3;
  EXPECT_THAT(ValidateSamplingParams(p).message(), HasSubstr("top_k"));
  p = SamplingParams();
  p.temperature = std::nanf("");
  EXPECT_EQ(ValidateSamplingParams(p).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams()).ok());
}

}  // namespace
}  // namespace gqa
