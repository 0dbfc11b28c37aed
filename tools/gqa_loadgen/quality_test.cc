#include "tools/gqa_loadgen/quality.h"

#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

TEST(QualityTest, ComparesTokenByToken) {
  TokenAgreement same = CompareTokens({1, 2, 3}, {1, 2, 3});
  EXPECT_EQ(same.first_divergence, -1);
  EXPECT_DOUBLE_EQ(same.fraction, 1.0);
  TokenAgreement diverged = CompareTokens({1, 2, 3, 4}, {1, 2, 9, 4});
  EXPECT_EQ(diverged.first_divergence, 2);
  EXPECT_EQ(diverged.num_matching, 3);
  EXPECT_DOUBLE_EQ(diverged.fraction, 0.75);
  TokenAgreement shorter = CompareTokens({1, 2, 3, 4}, {1, 2});
  EXPECT_EQ(shorter.first_divergence, 2);
  EXPECT_DOUBLE_EQ(shorter.fraction, 0.5);
  EXPECT_DOUBLE_EQ(CompareTokens({}, {}).fraction, 1.0);
}

TEST(QualityTest, SummarizesPairsAndSkipsFailures) {
  auto record = [](std::vector<int32_t> tokens, int64_t kv, int code = 0) {
    RequestRecord r;
    r.output_token_ids = std::move(tokens);
    r.peak_kv_bytes = kv;
    r.status_code = code;
    return r;
  };
  std::vector<QualityPair> pairs = {
      {record({1, 2, 3, 4}, 400), record({1, 2, 3, 4}, 100)},
      {record({1, 2, 3, 4}, 400), record({1, 5, 3, 4}, 100)},
      {record({1, 2, 3, 4}, 400), record({}, 0, 14)}};
  const QualityResult q = SummarizeQuality(pairs);
  EXPECT_EQ(q.num_prompts, 3);
  EXPECT_EQ(q.num_errors, 1);
  EXPECT_EQ(q.num_identical, 1);
  EXPECT_DOUBLE_EQ(q.agreement.mean, (1.0 + 0.75) / 2);
  EXPECT_EQ(q.first_divergence.count, 1);
  EXPECT_DOUBLE_EQ(q.first_divergence.p50, 1);
  EXPECT_DOUBLE_EQ(q.reference_peak_kv_bytes.mean, 400);
  EXPECT_DOUBLE_EQ(q.test_peak_kv_bytes.mean, 100);
}

}  // namespace
}  // namespace gqa::loadgen
