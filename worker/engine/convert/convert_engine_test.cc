// Converted files through the engine (CPU backend): pooling K/V heads that are
// identical within each group changes no log-probability, and pooling
// different heads does (so the first check can fail).
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/convert/gguf_convert.h"
#include "worker/engine/convert/testing/random_llama.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"
#include "worker/kv/kv_cache_storage.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {
namespace {

// A path in the test temp dir unique to the running test (ctest runs tests
// of one binary in parallel processes).
std::string TempPath(const std::string& suffix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return ::testing::TempDir() + "/" + name + "." + suffix;
}

const std::vector<int32_t> kTokens = {5, 17, 3, 88, 42, 42, 7, 1, 60, 23, 9, 200, 13, 0, 77};

// Log-probabilities of kTokens under the model in `path`, and its KV heads.
std::vector<double> Score(const std::string& path, int64_t* num_kv_heads) {
  std::unique_ptr<Backend> backend = MakeCpuBackend({.num_threads = 2});
  absl::StatusOr<std::unique_ptr<TensorSource>> source =
      OpenGgufTensorSource(Env::Default(), path);
  EXPECT_TRUE(source.ok()) << source.status();
  if (!source.ok()) return {};
  const ModelConfig config = (*source)->config();
  *num_kv_heads = config.num_kv_heads;
  absl::StatusOr<ShardPlan> plan = ShardPlan::Make(config, 1, 0);
  EXPECT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Create(*std::move(source), *plan, backend.get());
  EXPECT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<KvCacheStorage>> storage =
      KvCacheStorage::Create(backend.get(), config, *plan, {DType::kF32, 4, 1 << 20});
  EXPECT_TRUE(storage.ok()) << storage.status();
  OfflineGenerator generator(model->get(), storage->get(), Env::Default());
  absl::StatusOr<std::vector<double>> scores = generator.ScoreTokens(kTokens, 4);
  EXPECT_TRUE(scores.ok()) << scores.status();
  return scores.ok() ? *scores : std::vector<double>{};
}

double MaxAbsDiff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(a[i] - b[i]));
  }
  return max_diff;
}

struct Case {
  int64_t query_heads, kv_heads, identical, new_kv_heads;
};

class PoolingThroughEngineTest : public ::testing::TestWithParam<Case> {};

TEST_P(PoolingThroughEngineTest, IdenticalHeadsWithinGroupsPoolLosslessly) {
  const Case c = GetParam();
  Env* env = Env::Default();
  const std::string in_path = TempPath("in.gguf"), out_path = TempPath("out.gguf");
  RandomLlamaOptions options;
  options.num_query_heads = c.query_heads;
  options.num_kv_heads = c.kv_heads;
  options.hidden_size = c.query_heads * options.head_dim;
  options.identical_kv_heads = c.identical;
  options.seed = 7;
  ASSERT_TRUE(env->WriteFileAtomically(in_path, RandomLlamaGguf(options)).ok());
  absl::StatusOr<ConvertSummary> summary = ConvertGgufFile(
      env, in_path, out_path, {.dtype = GgmlType::kF32, .kv_heads = c.new_kv_heads});
  ASSERT_TRUE(summary.ok()) << summary.status();

  int64_t before_heads = 0, after_heads = 0;
  const std::vector<double> before = Score(in_path, &before_heads);
  const std::vector<double> after = Score(out_path, &after_heads);
  EXPECT_EQ(before_heads, c.kv_heads);
  EXPECT_EQ(after_heads, c.new_kv_heads);
  ASSERT_EQ(before.size(), kTokens.size() - 1);
  EXPECT_LE(MaxAbsDiff(before, after), 1e-5);

  // The same shapes with every head different: pooling must change the model.
  options.identical_kv_heads = 1;
  ASSERT_TRUE(env->WriteFileAtomically(in_path, RandomLlamaGguf(options)).ok());
  summary = ConvertGgufFile(env, in_path, out_path,
                            {.dtype = GgmlType::kF32, .kv_heads = c.new_kv_heads});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GT(MaxAbsDiff(Score(in_path, &before_heads), Score(out_path, &after_heads)), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PoolingThroughEngineTest,
    ::testing::Values(Case{4, 4, 2, 2},    // MHA -> GQA
                      Case{4, 4, 4, 1},    // MHA -> MQA
                      Case{6, 3, 3, 1},    // GQA -> MQA (SmolLM2's ratio)
                      Case{8, 4, 2, 2}),   // GQA -> GQA
    [](const auto& info) {
      const Case& c = info.param;
      return absl::StrCat("q", c.query_heads, "_kv", c.kv_heads, "_to", c.new_kv_heads);
    });

TEST(ConvertThroughEngineTest, F16ConversionStaysClose) {
  Env* env = Env::Default();
  const std::string in_path = TempPath("in.gguf"), out_path = TempPath("out.gguf");
  ASSERT_TRUE(env->WriteFileAtomically(in_path, RandomLlamaGguf({})).ok());
  ASSERT_TRUE(ConvertGgufFile(env, in_path, out_path, {.dtype = GgmlType::kF16}).ok());
  int64_t heads = 0;
  const double diff = MaxAbsDiff(Score(in_path, &heads), Score(out_path, &heads));
  EXPECT_LT(diff, 5e-3);
  EXPECT_GT(diff, 0.0);  // f16 rounding is visible at all
}

}  // namespace
}  // namespace gqa
