// The engine under the bounded KV policies and the prefix cache, against the
// double-precision reference that runs each policy as its paper states it
// (StreamingLLM and window with keys rotated by their position in the cache,
// H2O with per-layer, per-KV-head accumulated attention).
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/reference_forward.h"
#include "worker/engine/testing/tiny_engine.h"

namespace gqa {
namespace {

TinyEngine MakeEngine(int64_t q_heads, int64_t kv_heads) {
  return MakeTinyEngine({.num_query_heads = q_heads, .num_kv_heads = kv_heads, .seed = 7});
}

std::vector<int32_t> TestTokens(int n) {
  std::vector<int32_t> tokens(n);
  uint32_t state = 12345;
  for (int i = 0; i < n; ++i) {
    state = state * 1103515245u + 12345u;
    tokens[i] = static_cast<int32_t>((state >> 16) % 97);
  }
  return tokens;
}

// log p(tokens[i + 1]) from the reference's logits after token i.
std::vector<double> ReferenceLogprobs(const std::vector<std::vector<double>>& logits,
                                      const std::vector<int32_t>& tokens) {
  std::vector<double> out;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const auto& row = logits[i];
    const double max_logit = *std::max_element(row.begin(), row.end());
    double total = 0;
    for (double l : row) total += std::exp(l - max_logit);
    out.push_back(row[tokens[i + 1]] - max_logit - std::log(total));
  }
  return out;
}

struct PolicyCase {
  const char* policy;
  int q_heads, kv_heads, tokens;
};

class PolicyTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(PolicyTest, MatchesThePaperDefinitionTokenByToken) {
  const PolicyCase c = GetParam();
  TinyEngine e = MakeEngine(c.q_heads, c.kv_heads);
  const KvPolicy policy = *ParseKvPolicy(c.policy);
  const std::vector<int32_t> tokens = TestTokens(c.tokens);
  ReferenceForward reference(*e.source);
  const std::vector<double> expected =
      ReferenceLogprobs(reference.DecodeLogits(tokens, policy), tokens);
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  absl::StatusOr<std::vector<double>> got = generator.ScoreTokens(tokens, 1, policy);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), expected.size());
  double max_error = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    max_error = std::max(max_error, std::abs((*got)[i] - expected[i]));
  }
  EXPECT_LT(max_error, 1e-3) << c.policy;
  EXPECT_EQ(generator.kv().pool().num_free_blocks(), e.storage->num_blocks());
  // The bounded policy changed something: the full cache scores differently.
  const std::vector<double> full = ReferenceLogprobs(reference.DecodeLogits(tokens, KvPolicy::Full()), tokens);
  double full_gap = 0;
  for (size_t i = 0; i < full.size(); ++i) full_gap = std::max(full_gap, std::abs(full[i] - expected[i]));
  EXPECT_GT(full_gap, 1e-2) << c.policy;
}

INSTANTIATE_TEST_SUITE_P(
    Policies, PolicyTest,
    ::testing::Values(PolicyCase{"streaming:2+6", 4, 2, 40}, PolicyCase{"streaming:4+5", 4, 1, 40},
                      PolicyCase{"window:5", 4, 2, 40}, PolicyCase{"h2o:3+4", 4, 2, 40},
                      PolicyCase{"h2o:2+2", 4, 4, 40}, PolicyCase{"h2o:4+3", 6, 3, 40},
                      // Far past the trained context of 256 tokens.
                      PolicyCase{"streaming:2+6", 4, 2, 300}));

TEST(KvPolicyEngineTest, StreamingAndWindowPrefillChunksAreExactPerToken) {
  TinyEngine e = MakeEngine(4, 2);
  const std::vector<int32_t> tokens = TestTokens(50);
  for (const char* text : {"streaming:2+6", "window:5"}) {
    const KvPolicy policy = *ParseKvPolicy(text);
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    auto by_token = generator.ScoreTokens(tokens, 1, policy);
    auto by_block = generator.ScoreTokens(tokens, 4, policy);  // a block per step
    ASSERT_TRUE(by_token.ok() && by_block.ok());
    EXPECT_EQ(*by_token, *by_block) << text;
  }
}

TEST(KvPolicyEngineTest, BoundedGenerationKeepsAConstantFootprint) {
  TinyEngine e = MakeEngine(4, 2);
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = TestTokens(30);
  request.max_new_tokens = 400;  // past the trained context of 256
  request.kv_policy = KvPolicy::Streaming(4, 12);
  absl::StatusOr<OfflineResult> result = generator.Generate(request, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->output_ids.size(), 400u);
  EXPECT_EQ(result->kv_usage.tokens_held, 15);  // S + W - 1 between steps
  EXPECT_LE(result->kv_usage.blocks, 8);        // PaddedTokens(16 + 3) / 4 = 5, at most
  EXPECT_EQ(result->evicted_tokens, 430 - 1 - 15);
  EXPECT_EQ(generator.kv().pool().num_free_blocks(), e.storage->num_blocks());
}

TEST(KvPolicyEngineTest, PrefixCacheReusesBlocksAndKeepsTokensIdentical) {
  TinyEngine e = MakeEngine(4, 2);
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = TestTokens(12);  // three full blocks of 4
  request.max_new_tokens = 10;
  request.tenant = "a";
  auto first = generator.Generate(request, nullptr);
  auto second = generator.Generate(request, nullptr);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->reused_prefix_tokens, 0);
  // Everything but the last prompt token, which is recomputed into a copy of
  // the shared block (copy-on-write).
  EXPECT_EQ(second->reused_prefix_tokens, 11);
  EXPECT_EQ(second->output_ids, first->output_ids);
  request.tenant = "b";
  auto other = generator.Generate(request, nullptr);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->reused_prefix_tokens, 0);
  EXPECT_EQ(other->output_ids, first->output_ids);
  // Prompt + generated tokens: the generated blocks were published too.
  request.tenant = "a";
  request.prompt_ids.insert(request.prompt_ids.end(), first->output_ids.begin(),
                            first->output_ids.begin() + 8);
  auto longer = generator.Generate(request, nullptr);
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->reused_prefix_tokens, 19);
  // A bounded-policy sequence never takes shared blocks.
  request.kv_policy = KvPolicy::H2o(8, 8);
  auto bounded = generator.Generate(request, nullptr);
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->reused_prefix_tokens, 0);
  EXPECT_EQ(generator.kv().pool().num_free_blocks(), e.storage->num_blocks());
}

}  // namespace
}  // namespace gqa
