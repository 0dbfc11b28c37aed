// Checks the CPU engine against llama.cpp on the default model at matching
// precision (both on the F32 conversion of the shipped Q4_1 file), using
// golden data written once by bench/reference/engine_golden.py:
//  - along llama.cpp's greedy continuation, our log-probability of each of
//    its top-5 tokens agrees within kLogprobTolerance;
//  - our own 64 greedy tokens equal llama.cpp's, except after a step where
//    llama.cpp's top-2 margin is below kNearTie (reported, not hidden).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/convert/gguf_convert.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"

namespace gqa {
namespace {

// Nats. Differences come only from the order of arithmetic (and llama.cpp's
// float RoPE angles vs our double ones). Measured when the golden data was
// written: p50 1.7e-6, p99 1.1e-5, max 2.6e-5 over 3200 entries.
constexpr double kLogprobTolerance = 1e-4;
constexpr double kLogprobP99Tolerance = 3e-5;
constexpr double kNearTie = 0.05;           // nats between llama.cpp's top two candidates

struct GoldenPrompt {
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;                                        // llama.cpp's greedy tokens
  std::vector<std::vector<std::pair<int32_t, double>>> top;       // per step
  std::vector<double> margin;                                      // per step
};

std::vector<GoldenPrompt> ReadGolden() {
  std::ifstream in(GQA_ENGINE_TESTDATA_DIR "/smollm2_f32_golden.jsonl");
  std::vector<GoldenPrompt> golden;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("meta")) continue;
    GoldenPrompt g;
    g.prompt = j["prompt"];
    g.prompt_ids = j["prompt_ids"].get<std::vector<int32_t>>();
    for (const auto& step : j["steps"]) {
      g.ids.push_back(step["id"]);
      g.margin.push_back(step["margin"]);
      std::vector<std::pair<int32_t, double>> top;
      for (const auto& entry : step["top"]) top.emplace_back(entry[0], entry[1]);
      g.top.push_back(top);
    }
    golden.push_back(std::move(g));
  }
  return golden;
}

class EngineGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* model = std::getenv("GQA_DEFAULT_MODEL");
    if (model == nullptr || !Env::Default()->FileExists(model)) return;
    f32_path_ = new std::string(::testing::TempDir() + "/gqa_golden_f32_" +
                                std::to_string(::getpid()) + ".gguf");
    ConvertOptions options;
    options.dtype = GgmlType::kF32;
    ASSERT_TRUE(ConvertGgufFile(Env::Default(), model, *f32_path_, options).ok());
  }
  static void TearDownTestSuite() {
    if (f32_path_ != nullptr) {
      (void)Env::Default()->DeleteFile(*f32_path_);
      delete f32_path_;
      f32_path_ = nullptr;
    }
  }

  void SetUp() override {
    if (f32_path_ == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
    backend_ = MakeCpuBackend({.num_threads = 2});
    auto source = OpenGgufTensorSource(Env::Default(), *f32_path_);
    ASSERT_TRUE(source.ok()) << source.status();
    const ModelConfig config = (*source)->config();
    auto plan = ShardPlan::Make(config, 1, 0);
    ASSERT_TRUE(plan.ok());
    auto model = Model::Create(std::move(*source), *plan, backend_.get());
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    // The golden run used an f32 KV cache too (matching precision).
    auto storage = KvCacheStorage::Create(backend_.get(), config, *plan, {DType::kF32, 16, 64 << 20});
    ASSERT_TRUE(storage.ok());
    storage_ = std::move(*storage);
    generator_ = std::make_unique<OfflineGenerator>(model_.get(), storage_.get(), Env::Default());
  }

  static std::string* f32_path_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<KvCacheStorage> storage_;
  std::unique_ptr<OfflineGenerator> generator_;
};

std::string* EngineGoldenTest::f32_path_ = nullptr;

TEST_F(EngineGoldenTest, LogprobsAlongReferenceContinuationAgree) {
  double worst = 0;
  std::vector<double> diffs;
  for (const GoldenPrompt& g : ReadGolden()) {
    std::vector<int32_t> tokens = g.prompt_ids;
    tokens.insert(tokens.end(), g.ids.begin(), g.ids.end());
    auto scores = generator_->ScoreTokensWithTop(tokens, 64, 64);
    ASSERT_TRUE(scores.ok()) << scores.status();
    const size_t first = g.prompt_ids.size() - 1;  // scores[i] predicts tokens[i + 1]
    for (size_t step = 0; step < g.ids.size(); ++step) {
      const auto& ours = (*scores)[first + step].top_logprobs;
      for (const auto& [ref_id, ref_logprob] : g.top[step]) {
        const int32_t id = ref_id;  // clang-14 cannot capture a structured binding
        auto it = std::find_if(ours.begin(), ours.end(), [&](const auto& e) { return e.first == id; });
        ASSERT_NE(it, ours.end()) << "reference top-5 token " << id << " is not in our top 64 at step "
                                  << step << " of '" << g.prompt << "'";
        const double diff = std::fabs(it->second - ref_logprob);
        worst = std::max(worst, diff);
        diffs.push_back(diff);
        EXPECT_LE(diff, kLogprobTolerance) << "step " << step << " token " << id << " of '" << g.prompt << "'";
      }
    }
  }
  ASSERT_FALSE(diffs.empty());
  std::sort(diffs.begin(), diffs.end());
  const double p50 = diffs[diffs.size() / 2], p99 = diffs[diffs.size() * 99 / 100];
  std::cout << "|logprob - llama.cpp| over " << diffs.size() << " reference top-5 entries: p50 "
            << p50 << ", p99 " << p99 << ", max " << worst << " nats\n";
  EXPECT_LE(p99, kLogprobP99Tolerance);
}

TEST_F(EngineGoldenTest, GreedyTokensMatchExceptAfterNearTies) {
  int identical = 0, near_tie = 0;
  for (const GoldenPrompt& g : ReadGolden()) {
    OfflineRequest request;
    request.prompt_ids = g.prompt_ids;
    request.max_new_tokens = static_cast<int64_t>(g.ids.size());
    request.sampling.temperature = 0;
    auto result = generator_->Generate(request, nullptr);
    ASSERT_TRUE(result.ok()) << result.status();
    size_t step = 0;
    while (step < g.ids.size() && result->output_ids[step] == g.ids[step]) ++step;
    if (step == g.ids.size()) {
      ++identical;
      continue;
    }
    ++near_tie;
    std::cout << "diverged at step " << step << " of '" << g.prompt << "' (llama.cpp " << g.ids[step]
              << ", ours " << result->output_ids[step] << ", llama.cpp top-2 margin "
              << g.margin[step] << " nats)\n";
    EXPECT_LT(g.margin[step], kNearTie) << "divergence without a near-tie at step " << step
                                        << " of '" << g.prompt << "'";
  }
  std::cout << identical << " prompts identical over 64 greedy tokens, " << near_tie
            << " diverged after a near-tie\n";
  EXPECT_GE(identical, 8);
}

}  // namespace
}  // namespace gqa
