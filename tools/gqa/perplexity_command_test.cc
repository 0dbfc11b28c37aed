// EvaluatePerplexity over a fake scorer (window plan, BOS, dropped tail,
// errors), and the built `gqa perplexity` binary (GQA_BINARY) on tiny random
// models with a byte-level tokenizer (one token per byte of ASCII text).
#include "tools/gqa/perplexity_command.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/run_gqa_for_test.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;

// log p(t[i+1] | ...) = -(t[i+1] % 7 + 1) / 10; records the windows it saw.
struct FakeScorer {
  std::vector<std::vector<int32_t>>* seen;
  absl::StatusOr<std::vector<double>> operator()(const std::vector<int32_t>& window) const {
    seen->push_back(window);
    std::vector<double> out;
    for (size_t i = 1; i < window.size(); ++i) out.push_back(-(window[i] % 7 + 1) / 10.0);
    return out;
  }
};

std::vector<int32_t> Iota(int n) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = 10 + i;
  return v;
}

TEST(EvaluatePerplexityTest, WholeWindowsScoreAllButTheirFirstToken) {
  std::vector<std::vector<int32_t>> seen;
  const std::vector<int32_t> text = Iota(10);
  absl::StatusOr<PerplexityResult> r =
      EvaluatePerplexity(text, {.ctx_tokens = 4}, FakeScorer{&seen}, nullptr, Env::Default());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(seen, ElementsAre(ElementsAre(10, 11, 12, 13), ElementsAre(14, 15, 16, 17)));
  EXPECT_EQ(r->windows.size(), 2u);
  EXPECT_EQ(r->num_scored, 6);
  EXPECT_EQ(r->num_dropped, 2);  // 18, 19
  EXPECT_EQ(r->num_text_tokens, 10);
  double nll = 0;
  for (int32_t t : {11, 12, 13, 15, 16, 17}) nll += (t % 7 + 1) / 10.0;
  EXPECT_NEAR(r->nll_sum, nll, 1e-12);
  EXPECT_NEAR(r->perplexity(), std::exp(nll / 6), 1e-12);
  EXPECT_EQ(r->windows[1].first_token_idx, 4);
  EXPECT_NEAR(r->windows[1].mean_nll(), (2 + 3 + 4) / 30.0, 1e-12);
}

TEST(EvaluatePerplexityTest, BosStartsEveryWindowAndShortTextsGiveOneWindow) {
  std::vector<std::vector<int32_t>> seen;
  absl::StatusOr<PerplexityResult> r = EvaluatePerplexity(
      Iota(7), {.ctx_tokens = 4, .bos_id = 1}, FakeScorer{&seen}, nullptr, Env::Default());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(seen, ElementsAre(ElementsAre(1, 10, 11, 12), ElementsAre(1, 13, 14, 15)));
  EXPECT_EQ(r->num_scored, 6);
  EXPECT_EQ(r->num_dropped, 1);

  seen.clear();
  r = EvaluatePerplexity(Iota(3), {.ctx_tokens = 100}, FakeScorer{&seen}, nullptr,
                         Env::Default());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(seen, ElementsAre(ElementsAre(10, 11, 12)));
  EXPECT_EQ(r->num_dropped, 0);

  seen.clear();
  int64_t calls = 0;
  r = EvaluatePerplexity(
      Iota(20), {.ctx_tokens = 4, .max_windows = 2}, FakeScorer{&seen},
      [&](const PerplexityWindow&, int64_t idx, int64_t count) {
        EXPECT_EQ(idx, calls++);
        EXPECT_EQ(count, 2);
      },
      Env::Default());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r->num_dropped, 12);
}

TEST(EvaluatePerplexityTest, RefusesTextsWithNothingToScore) {
  std::vector<std::vector<int32_t>> seen;
  absl::StatusOr<PerplexityResult> r =
      EvaluatePerplexity(Iota(1), {.ctx_tokens = 8}, FakeScorer{&seen}, nullptr, Env::Default());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("the text has 1 token; perplexity needs at least 2"));
  r = EvaluatePerplexity({}, {.ctx_tokens = 8, .bos_id = 1}, FakeScorer{&seen}, nullptr,
                         Env::Default());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  r = EvaluatePerplexity(Iota(9), {.ctx_tokens = 1}, FakeScorer{&seen}, nullptr, Env::Default());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(seen.empty());
}

class PerplexityCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "/" + info->name();
    ASSERT_TRUE(env_->CreateDirs(dir_).ok());
    model_ = dir_ + "/model.gguf";
    RandomLlamaOptions options;  // context 64, byte tokenizer, no BOS
    options.num_kv_heads = 4;
    options.identical_kv_heads = 2;
    ASSERT_TRUE(env_->WriteFileAtomically(model_, RandomLlamaGguf(options)).ok());
    text_ = dir_ + "/text.txt";
    std::string text;
    for (int i = 0; i < 10; ++i) text += "abcdefghij";  // 100 tokens, one per byte
    ASSERT_TRUE(env_->WriteFileAtomically(text_, text).ok());
  }

  GqaRun Perplexity(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"perplexity", "--threads", "1"};
    all.insert(all.end(), args.begin(), args.end());
    return RunGqaForTesting(GQA_BINARY, all);
  }

  json RunJson(const std::vector<std::string>& args) {
    std::vector<std::string> all = args;
    all.push_back("--json");
    GqaRun run = Perplexity(all);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    json parsed = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(parsed.is_object()) << run.out;
    return parsed;
  }

  void ExpectOneLineError(const GqaRun& run, int exit_code, const std::string& text) {
    EXPECT_EQ(run.exit_code, exit_code) << run.err;
    EXPECT_THAT(run.err, StartsWith("gqa perplexity: "));
    EXPECT_THAT(run.err, HasSubstr(text));
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }

  Env* env_ = Env::Default();
  std::string dir_, model_, text_;
};

TEST_F(PerplexityCliTest, JsonReportsWindowsAndPerplexityIsExpOfMeanNll) {
  json j = RunJson({"--model", model_, "--file", text_, "--ctx", "16"});
  EXPECT_EQ(j["ctx"], 16);
  EXPECT_EQ(j["text_tokens"], 100);
  EXPECT_EQ(j["windows"], 6);
  EXPECT_EQ(j["tokens"], 6 * 15);
  EXPECT_EQ(j["tokens_dropped"], 4);
  EXPECT_EQ(j["bos"], false);
  EXPECT_EQ(j["kv_policy"], "full");
  ASSERT_EQ(j["segments"].size(), 6u);
  double nll_sum = 0;
  int64_t scored = 0;
  for (const json& s : j["segments"]) {
    EXPECT_EQ(s["tokens"], 16);
    EXPECT_EQ(s["scored"], 15);
    EXPECT_NEAR(s["perplexity"].get<double>(), std::exp(s["nll"].get<double>()), 1e-9);
    nll_sum += s["nll"].get<double>() * s["scored"].get<int64_t>();
    scored += s["scored"].get<int64_t>();
  }
  EXPECT_EQ(j["segments"][5]["first_token_idx"], 80);
  EXPECT_NEAR(j["nll"].get<double>(), nll_sum / scored, 1e-12);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(nll_sum / scored), 1e-9);
  // A random model over 259 tokens: far from certain, and not absurd.
  EXPECT_GT(j["perplexity"].get<double>(), 2.0);
  EXPECT_LT(j["perplexity"].get<double>(), 2000.0);

  // The same windows through the plain output.
  GqaRun run = Perplexity({"--model", model_, "--file", text_, "--ctx", "16"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("over 90 tokens: 6 windows of 16 tokens, 4 tokens dropped"));
  EXPECT_THAT(run.err, HasSubstr("window 6/6"));
}

TEST_F(PerplexityCliTest, ShortTextIsOneWindowAndDefaultCtxIsTheTrainedContext) {
  json j = RunJson({"--model", model_, "--file", text_});  // context 64 < 2048
  EXPECT_EQ(j["ctx"], 64);
  EXPECT_EQ(j["windows"], 1);
  ASSERT_TRUE(env_->WriteFileAtomically(text_, "hello").ok());
  j = RunJson({"--model", model_, "--file", text_, "--ctx", "16"});
  EXPECT_EQ(j["windows"], 1);
  EXPECT_EQ(j["tokens"], 4);
  EXPECT_EQ(j["segments"][0]["tokens"], 5);
}

TEST_F(PerplexityCliTest, PoolingIdenticalHeadsKeepsThePerplexity) {
  const std::string mqa = dir_ + "/gqa2.gguf";
  GqaRun run = RunGqaForTesting(GQA_BINARY, {"convert", "--kv-heads", "2", "--dtype", "f32",
                                             model_, mqa});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json before = RunJson({"--model", model_, "--file", text_, "--ctx", "32"});
  const json after = RunJson({"--model", mqa, "--file", text_, "--ctx", "32"});
  EXPECT_NEAR(after["perplexity"].get<double>(), before["perplexity"].get<double>(), 1e-4);
}

// Smoke checks of every mode of the quality table, on a tiny model.
TEST_F(PerplexityCliTest, BoundedPoliciesScoreWindowsTokenByToken) {
  const json full = RunJson({"--model", model_, "--file", text_, "--ctx", "32"});
  // A budget larger than the window evicts nothing: the full perplexity.
  const json roomy = RunJson({"--model", model_, "--file", text_, "--ctx", "32", "--kv-policy",
                              "h2o:32+32"});
  EXPECT_EQ(roomy["kv_policy"], "h2o:32+32");
  EXPECT_NEAR(roomy["perplexity"].get<double>(), full["perplexity"].get<double>(), 1e-4);
  // A small budget changes it (and still gives a sane figure).
  const json tight = RunJson({"--model", model_, "--file", text_, "--ctx", "32", "--kv-policy",
                              "h2o:3+3", "--kv-dtype", "fp8-e4m3"});
  EXPECT_EQ(tight["kv_dtype"], "fp8-e4m3");
  EXPECT_NE(tight["perplexity"].get<double>(), full["perplexity"].get<double>());
  EXPECT_GT(tight["perplexity"].get<double>(), 1.0);
  EXPECT_LT(tight["perplexity"].get<double>(), 5000.0);
}

TEST_F(PerplexityCliTest, StreamRunsPastTheTrainedContextWithSegments) {
  // 100 tokens, one sequence, trained context 64.
  const json stream = RunJson({"--model", model_, "--file", text_, "--stream", "--kv-policy",
                               "streaming:4+12", "--segment", "32"});
  EXPECT_EQ(stream["mode"], "stream");
  EXPECT_EQ(stream["tokens"], 99);
  ASSERT_EQ(stream["segments"].size(), 4u);
  EXPECT_EQ(stream["segments"][3]["first_token_idx"], 96);
  EXPECT_EQ(stream["segments"][0]["scored"], 31);  // token 0 has nothing before it
  EXPECT_EQ(stream["segments"][1]["scored"], 32);
  for (const std::string policy : {"window:16", "h2o:8+8"}) {
    const json other = RunJson({"--model", model_, "--file", text_, "--stream", "--kv-policy",
                                policy});
    EXPECT_EQ(other["tokens"], 99) << policy;
    EXPECT_TRUE(std::isfinite(other["perplexity"].get<double>())) << policy;
  }
  // Within its bound a streaming sequence equals the full cache.
  const json head = RunJson({"--model", model_, "--file", text_, "--stream", "--max-tokens", "40"});
  const json head_streaming = RunJson({"--model", model_, "--file", text_, "--stream",
                                       "--max-tokens", "40", "--kv-policy", "streaming:4+60"});
  EXPECT_NEAR(head_streaming["perplexity"].get<double>(), head["perplexity"].get<double>(), 1e-4);
}

TEST_F(PerplexityCliTest, RecomputeReferenceScoresSampledTokensFromFreshWindows) {
  const json j = RunJson({"--model", model_, "--file", text_, "--stream", "--recompute", "16",
                          "--sample-every", "4", "--segment", "50"});
  EXPECT_EQ(j["mode"], "stream-recompute");
  EXPECT_EQ(j["recompute_tokens"], 16);
  EXPECT_EQ(j["tokens"], 24);  // text positions 4, 8, ..., 96
  ASSERT_EQ(j["segments"].size(), 2u);
  // A window as long as the text is the plain full-cache stream.
  const json all = RunJson({"--model", model_, "--file", text_, "--stream", "--recompute", "64",
                            "--max-tokens", "40"});
  const json plain = RunJson({"--model", model_, "--file", text_, "--stream", "--max-tokens", "40"});
  EXPECT_NEAR(all["perplexity"].get<double>(), plain["perplexity"].get<double>(), 1e-4);
}

TEST_F(PerplexityCliTest, ErrorsAreOneLine) {
  ExpectOneLineError(Perplexity({"--model", model_}), 2, "--file is required");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", dir_ + "/none.txt"}), 1,
                     "none.txt");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--ctx", "65"}), 2,
                     "--ctx 65 exceeds the model's trained context of 64 tokens");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--ctx", "0"}), 2, "--ctx");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--kv-policy", "h2o:5"}), 2,
                     "--kv-policy 'h2o:5'");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--recompute", "8"}), 2,
                     "--recompute is a --stream reference");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--stream", "--ctx", "8"}), 2,
                     "--stream scores the whole text as one sequence");
  // 100 tokens through one sequence is past the trained context of 64: only
  // a bounded policy may do that.
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--stream"}), 1,
                     "a bounded --kv-policy runs past it");
  ExpectOneLineError(Perplexity({"--model", dir_ + "/none.gguf", "--file", text_}), 1,
                     "none.gguf");
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_, "--threads", "x"}), 2,
                     "--threads");
  ASSERT_TRUE(env_->WriteFileAtomically(text_, "a").ok());
  ExpectOneLineError(Perplexity({"--model", model_, "--file", text_}), 1,
                     "the text has 1 token; perplexity needs at least 2");
}

}  // namespace
}  // namespace gqa
