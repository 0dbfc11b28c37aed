// The default model (SmolLM2-135M-Instruct.Q4_1.gguf): its real shape, read
// through OpenGguf and ModelConfigFromGguf. Skips when the file is absent.
#include <cstdlib>
#include <string>

#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_model_config.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

// scripts/setup.sh downloads the default model; scripts/test.sh exports its
// path as GQA_DEFAULT_MODEL.
std::string DefaultModelPath() {
  if (const char* path = std::getenv("GQA_DEFAULT_MODEL"); path != nullptr && *path != '\0') {
    return path;
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") +
         "/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

TEST(GgufModelConfigTest, DefaultModelSmolLM2) {
  const std::string path = DefaultModelPath();
  Env* env = Env::Default();
  if (!env->FileExists(path)) GTEST_SKIP() << "default model not found at " << path;
  absl::StatusOr<std::unique_ptr<GgufModelFile>> model = OpenGguf(env, path);
  ASSERT_TRUE(model.ok()) << model.status();
  const GgufFile& file = (*model)->file();
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.tensors().size(), 272u);
  EXPECT_EQ(file.FindTensor("blk.0.attn_q.weight")->type, GgmlType::kQ4_1);
  EXPECT_EQ(file.FindTensor("token_embd.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(*file.GetArrayLength("tokenizer.ggml.tokens"), 49152u);
  absl::StatusOr<ModelConfig> config = ModelConfigFromGguf(file);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "llama");
  EXPECT_EQ(config->num_layers, 30);
  EXPECT_EQ(config->hidden_size, 576);
  EXPECT_EQ(config->num_query_heads, 9);
  EXPECT_EQ(config->num_kv_heads, 3);
  EXPECT_EQ(config->group_size(), 3);
  EXPECT_EQ(config->head_dim, 64);
  EXPECT_EQ(config->intermediate_size, 1536);
  EXPECT_EQ(config->vocab_size, 49152);
  EXPECT_EQ(config->context_tokens, 8192);
  EXPECT_DOUBLE_EQ(config->rope_theta, 100000.0);
  EXPECT_NEAR(config->norm_eps, 1e-5, 1e-12);
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_TRUE(config->tied_embeddings);
}

}  // namespace
}  // namespace gqa
