#include "worker/engine/model.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {
namespace {

// Independent reference: a direct transcription of the Llama forward pass in
// double precision over contiguous K/V, reading the tiny model's F32 weights.
class ReferenceForward {
 public:
  explicit ReferenceForward(const MemoryTensorSource& source) : s_(source), c_(source.config()) {}

  // Logits of the last token of `tokens`.
  std::vector<double> LastLogits(const std::vector<int32_t>& tokens) {
    const int64_t n = tokens.size(), h = c_.hidden_size, d = c_.head_dim;
    const int64_t qh = c_.num_query_heads, kvh = c_.num_kv_heads, group = qh / kvh;
    std::vector<std::vector<double>> x(n, std::vector<double>(h));
    const auto& embd = s_.values("token_embd.weight");
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < h; ++i) x[t][i] = embd[tokens[t] * h + i];
    }
    for (int64_t l = 0; l < c_.num_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      std::vector<std::vector<double>> q(n), k(n), v(n);
      for (int64_t t = 0; t < n; ++t) {
        const auto normed = Norm(x[t], s_.values(p + "attn_norm.weight"));
        q[t] = MatVec(s_.values(p + "attn_q.weight"), normed, qh * d);
        k[t] = MatVec(s_.values(p + "attn_k.weight"), normed, kvh * d);
        v[t] = MatVec(s_.values(p + "attn_v.weight"), normed, kvh * d);
        Rotate(q[t], qh, t);
        Rotate(k[t], kvh, t);
      }
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> attn(qh * d, 0.0);
        for (int64_t head = 0; head < qh; ++head) {
          const int64_t kv = head / group;
          std::vector<double> w(t + 1);
          double max_w = -1e300, total = 0;
          for (int64_t j = 0; j <= t; ++j) {
            double dot = 0;
            for (int64_t e = 0; e < d; ++e) dot += q[t][head * d + e] * k[j][kv * d + e];
            w[j] = dot / std::sqrt(static_cast<double>(d));
            max_w = std::max(max_w, w[j]);
          }
          for (double& value : w) total += (value = std::exp(value - max_w));
          for (int64_t j = 0; j <= t; ++j) {
            for (int64_t e = 0; e < d; ++e) attn[head * d + e] += w[j] / total * v[j][kv * d + e];
          }
        }
        const auto o = MatVec(s_.values(p + "attn_output.weight"), attn, h);
        for (int64_t i = 0; i < h; ++i) x[t][i] += o[i];
        const auto normed = Norm(x[t], s_.values(p + "ffn_norm.weight"));
        auto gate = MatVec(s_.values(p + "ffn_gate.weight"), normed, c_.intermediate_size);
        const auto up = MatVec(s_.values(p + "ffn_up.weight"), normed, c_.intermediate_size);
        for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        const auto down = MatVec(s_.values(p + "ffn_down.weight"), gate, h);
        for (int64_t i = 0; i < h; ++i) x[t][i] += down[i];
      }
    }
    const auto normed = Norm(x[n - 1], s_.values("output_norm.weight"));
    return MatVec(s_.values("output.weight"), normed, c_.vocab_size);
  }

 private:
  std::vector<double> Norm(const std::vector<double>& x, const std::vector<float>& w) {
    double ss = 0;
    for (double value : x) ss += value * value;
    const double inv = 1.0 / std::sqrt(ss / x.size() + c_.norm_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
    return y;
  }
  std::vector<double> MatVec(const std::vector<float>& w, const std::vector<double>& x, int64_t rows) {
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < x.size(); ++c) y[r] += w[r * x.size() + c] * x[c];
    }
    return y;
  }
  // Interleaved pairs (GGUF layout).
  void Rotate(std::vector<double>& x, int64_t heads, int64_t pos) {
    const int64_t d = c_.head_dim;
    for (int64_t head = 0; head < heads; ++head) {
      for (int64_t i = 0; i < d / 2; ++i) {
        const double angle = pos * std::pow(c_.rope_theta, -2.0 * i / d);
        double& a = x[head * d + 2 * i];
        double& b = x[head * d + 2 * i + 1];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(angle) - b0 * std::sin(angle);
        b = a0 * std::sin(angle) + b0 * std::cos(angle);
      }
    }
  }

  const MemoryTensorSource& s_;
  const ModelConfig& c_;
};

struct Engine {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<KvCacheStorage> storage;
  const MemoryTensorSource* source = nullptr;
};

Engine MakeEngine(int64_t q_heads, int64_t kv_heads, DType dtype = DType::kF32) {
  Engine e;
  e.backend = MakeCpuBackend({.num_threads = 2});
  auto source = MakeTinyModel(TinyConfig(q_heads, kv_heads), 99);
  e.source = source.get();
  const ModelConfig config = source->config();
  auto plan = ShardPlan::Make(config, 1, 0);
  EXPECT_TRUE(plan.ok());
  auto model = Model::Create(std::move(source), *plan, e.backend.get());
  EXPECT_TRUE(model.ok()) << model.status();
  e.model = std::move(*model);
  auto storage = KvCacheStorage::Create(e.backend.get(), config, *plan,
                                        {dtype, 4, 1 << 20});
  EXPECT_TRUE(storage.ok()) << storage.status();
  e.storage = std::move(*storage);
  return e;
}

class ShapeTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(ShapeTest, MatchesReferenceAndIsChunkInvariant) {
  const auto [q_heads, kv_heads] = GetParam();
  Engine e = MakeEngine(q_heads, kv_heads);
  std::vector<int32_t> tokens = {5, 17, 3, 88, 42, 42, 7, 1, 60, 23, 9};
  ReferenceForward reference(*e.source);
  const auto expected = reference.LastLogits(tokens);

  std::vector<std::vector<double>> by_chunk;
  for (int64_t chunk : {1, 3, 64}) {
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    auto scores = generator.ScoreTokens(tokens, chunk);
    ASSERT_TRUE(scores.ok()) << scores.status();
    by_chunk.push_back(*scores);
    EXPECT_EQ(generator.pool().num_free_blocks(), e.storage->num_blocks());  // nothing leaks
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
  Engine e = MakeEngine(4, 2);
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
  Engine e = MakeEngine(4, 2);
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
  EXPECT_EQ(generator.pool().num_free_blocks(), e.storage->num_blocks());
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
  EXPECT_EQ(generator.pool().num_free_blocks(), 2);
}

}  // namespace
}  // namespace gqa
