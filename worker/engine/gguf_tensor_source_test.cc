#include "worker/engine/gguf_tensor_source.h"

#include <cmath>
#include <cstdlib>

#include "core/gguf/gguf_writer.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"

namespace gqa {
namespace {

std::string DefaultModel() {
  const char* path = std::getenv("GQA_DEFAULT_MODEL");
  return path != nullptr ? path : "";
}

TEST(GgufTensorSourceTest, MissingFileIsNotFound) {
  auto env = NewMemEnv();
  EXPECT_EQ(OpenGgufTensorSource(env.get(), "/nope.gguf").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GgufTensorSourceTest, GarbageIsInvalidArgumentNamingTheFile) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->WriteFileAtomically("/bad.gguf", "GGUF but not really").ok());
  absl::Status status = OpenGgufTensorSource(env.get(), "/bad.gguf").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("/bad.gguf"), std::string::npos) << status;
}

// The real default model: loads, and its greedy continuation of a fixed id
// prompt is deterministic and has finite log-probabilities.
TEST(GgufTensorSourceTest, DefaultModelRunsAFewTokens) {
  const std::string path = DefaultModel();
  if (path.empty() || !Env::Default()->FileExists(path)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL); run scripts/setup.sh";
  }
  auto source = OpenGgufTensorSource(Env::Default(), path);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->fingerprint().size(), 64u);
  const ModelConfig config = (*source)->config();
  EXPECT_TRUE(config.tied_embeddings);
  auto backend = MakeCpuBackend({.num_threads = 2});
  auto plan = ShardPlan::Make(config, 1, 0);
  ASSERT_TRUE(plan.ok());
  auto model = Model::Create(std::move(*source), *plan, backend.get());
  ASSERT_TRUE(model.ok()) << model.status();
  auto storage = KvCacheStorage::Create(backend.get(), config, *plan, {DType::kF32, 16, 64 << 20});
  ASSERT_TRUE(storage.ok());
  OfflineGenerator generator(model->get(), storage->get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = {504, 3458, 282, 4649, 314};  // any in-vocabulary ids
  request.max_new_tokens = 4;
  request.sampling.temperature = 0;
  std::vector<float> logprobs;
  auto first = generator.Generate(request, [&](const SampledToken& t) {
    logprobs.push_back(t.logprob);
    return true;
  });
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = generator.Generate(request, nullptr);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->output_ids, second->output_ids);
  for (float lp : logprobs) EXPECT_TRUE(std::isfinite(lp) && lp <= 0.0f) << lp;
}

}  // namespace
}  // namespace gqa
