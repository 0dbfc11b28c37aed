#include "worker/engine/model.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/reference_forward.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {
namespace {

TinyEngine MakeEngine(int64_t q_heads, int64_t kv_heads) {
  return MakeTinyEngine({.num_query_heads = q_heads, .num_kv_heads = kv_heads, .seed = 99});
}

class ShapeTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(ShapeTest, MatchesReferenceAndIsChunkInvariant) {
  const auto [q_heads, kv_heads] = GetParam();
  TinyEngine e = MakeEngine(q_heads, kv_heads);
  std::vector<int32_t> tokens = {5, 17, 3, 88, 42, 42, 7, 1, 60, 23, 9};
  ReferenceForward reference(*e.source);
  const auto expected = reference.LastLogits(tokens);

  std::vector<std::vector<double>> by_chunk;
  for (int64_t chunk : {1, 3, 64}) {
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    auto scores = generator.ScoreTokens(tokens, chunk);
    ASSERT_TRUE(scores.ok()) << scores.status();
    by_chunk.push_back(*scores);
    EXPECT_EQ(generator.kv().pool().num_free_blocks(), e.storage->num_blocks());  // nothing leaks
  }
  // Identical log-probs whatever the prefill chunking (batch invariance).
  EXPECT_EQ(by_chunk[0], by_chunk[1]);
  EXPECT_EQ(by_chunk[0], by_chunk[2]);

  // Greedy first token equals the reference's argmax; logits within tolerance.
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = tokens;
  request.max_new_tokens = 1;
  request.sampling.temperature = 0;
  request.num_top_logprobs = 5;
  std::vector<SampledToken> emitted;
  auto result = generator.Generate(request, [&](const SampledToken& t) {
    emitted.push_back(t);
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status();
  const int32_t argmax = std::max_element(expected.begin(), expected.end()) - expected.begin();
  EXPECT_EQ(result->output_ids[0], argmax);
  double max_logit = *std::max_element(expected.begin(), expected.end()), total = 0;
  for (double l : expected) total += std::exp(l - max_logit);
  for (const auto& [id, logprob] : emitted[0].top_logprobs) {
    EXPECT_NEAR(logprob, expected[id] - max_logit - std::log(total), 1e-3) << id;
  }
}

INSTANTIATE_TEST_SUITE_P(MhaGqaMqa, ShapeTest,
                         ::testing::Values(std::pair{4, 4}, std::pair{4, 2}, std::pair{4, 1},
                                           std::pair{6, 3}));

TEST(ModelTest, GenerationIsDeterministicAndStopsOnStopToken) {
  TinyEngine e = MakeEngine(4, 2);
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = {1, 2, 3};
  request.max_new_tokens = 12;
  request.sampling.seed = 5;
  auto first = generator.Generate(request, nullptr);
  auto second = generator.Generate(request, nullptr);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->output_ids, second->output_ids);
  EXPECT_EQ(first->output_ids.size(), 12u);
  request.stop_ids = {first->output_ids[4]};
  auto stopped = generator.Generate(request, nullptr);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStopToken);
  EXPECT_LE(stopped->output_ids.size(), 5u);
}

TEST(ModelTest, RejectsBadRequestsClearly) {
  TinyEngine e = MakeEngine(4, 2);
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  EXPECT_EQ(generator.Generate(request, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  request.prompt_ids = {1, 97};
  auto status = generator.Generate(request, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("id 97"), std::string::npos);
  request.prompt_ids = {1};
  request.max_new_tokens = 300;  // context 256
  EXPECT_NE(generator.Generate(request, nullptr).status().message().find("max_tokens=300"),
            std::string::npos);
  EXPECT_EQ(generator.kv().pool().num_free_blocks(), e.storage->num_blocks());
}

TEST(ModelTest, TinyKvBudgetIsResourceExhaustedNotACrash) {
  auto backend = MakeCpuBackend({});
  auto source = MakeTinyModel(TinyConfig(4, 2), 1);
  const ModelConfig config = source->config();
  auto plan = ShardPlan::Make(config, 1, 0);
  auto model = Model::Create(std::move(source), *plan, backend.get());
  ASSERT_TRUE(model.ok());
  const int64_t block_bytes = *KvCacheStorage::BytesPerBlock(config, *plan, DType::kF32, 4);
  // layers x kv_heads x 2 x block x head_dim x 4 bytes: 2 x 2 x 2 x 4 x 16 x 4.
  EXPECT_EQ(block_bytes, 2 * 2 * 2 * 4 * 16 * 4);
  auto storage = KvCacheStorage::Create(backend.get(), config, *plan, {DType::kF32, 4, 2 * block_bytes});
  ASSERT_TRUE(storage.ok());
  OfflineGenerator generator(model->get(), storage->get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = {1, 2, 3, 4, 5, 6, 7};
  request.max_new_tokens = 5;  // 12 tokens need 3 blocks of 4
  EXPECT_EQ(generator.Generate(request, nullptr).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(generator.kv().pool().num_free_blocks(), 2);
}

}  // namespace
}  // namespace gqa
