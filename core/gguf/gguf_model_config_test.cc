#include "core/gguf/gguf_model_config.h"

#include <string>

#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_test_util.h"
#include "core/gguf/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<ModelConfig> ConfigOf(const std::string& bytes) {
  absl::StatusOr<GgufFile> file =
      ParseGguf({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "tiny.gguf");
  if (!file.ok()) return file.status();
  return ModelConfigFromGguf(*file);
}

TEST(GgufModelConfigTest, TinyLlama) {
  absl::StatusOr<ModelConfig> config = ConfigOf(TinyLlamaGguf());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "llama");
  EXPECT_EQ(config->name, "tiny-test-llama");
  EXPECT_EQ(config->num_layers, 1);
  EXPECT_EQ(config->hidden_size, 8);
  EXPECT_EQ(config->num_query_heads, 2);
  EXPECT_EQ(config->num_kv_heads, 1);
  EXPECT_EQ(config->group_size(), 2);
  EXPECT_EQ(config->head_dim, 4);
  EXPECT_EQ(config->intermediate_size, 8);
  EXPECT_EQ(config->vocab_size, 8);
  EXPECT_EQ(config->context_tokens, 64);
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(config->norm_eps), 1e-5f);
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_TRUE(config->tied_embeddings);
}

TEST(GgufModelConfigTest, UntiedQuantizedMultiLayerMistral) {
  TinyLlamaOptions options;
  options.architecture = "mistral";
  options.num_layers = 3;
  options.hidden_size = 64;
  options.num_query_heads = 8;
  options.num_kv_heads = 2;
  options.head_dim = 16;  // q width 128 != hidden: allowed
  options.intermediate_size = 96;
  options.matrix_type = GgmlType::kQ8_0;
  options.tied_embeddings = false;
  options.write_tokens = false;  // vocab from token_embd.weight
  options.vocab_size = 40;
  absl::StatusOr<ModelConfig> config = ConfigOf(TinyLlamaGguf(options));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "mistral");
  EXPECT_EQ(config->num_layers, 3);
  EXPECT_EQ(config->head_dim, 16);
  EXPECT_EQ(config->group_size(), 4);
  EXPECT_EQ(config->vocab_size, 40);
  EXPECT_FALSE(config->tied_embeddings);
}

TEST(GgufModelConfigTest, DefaultsWhenOptionalKeysAreAbsent) {
  const std::string file = EditGguf(
      TinyLlamaGguf(), {.drop_keys = {"llama.attention.head_count_kv", "llama.rope.freq_base",
                                      "llama.rope.dimension_count"}});
  // head_count_kv defaults to head_count (MHA), whose k/v tensors are wider.
  absl::StatusOr<ModelConfig> config = ConfigOf(file);
  EXPECT_THAT(config.status().message(),
              HasSubstr("tensor 'blk.0.attn_k.weight' has shape [8, 4]"));

  const std::string mha =
      EditGguf(TinyLlamaGguf({.num_kv_heads = 2}),
               {.drop_keys = {"llama.attention.head_count_kv", "llama.rope.freq_base",
                              "llama.rope.dimension_count"}});
  config = ConfigOf(mha);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_kv_heads, 2);
  EXPECT_EQ(config->head_dim, 4);  // embedding_length / head_count
  EXPECT_DOUBLE_EQ(config->rope_theta, 10000.0);
}

TEST(GgufModelConfigTest, RopeScaling) {
  const std::string yarn =
      EditGguf(TinyLlamaGguf(), {.add = [](GgufWriter* w) {
                 w->AddString("llama.rope.scaling.type", "yarn");
                 w->AddFloat32("llama.rope.scaling.factor", 4.0f);
                 w->AddUint32("llama.rope.scaling.original_context_length", 16);
               }});
  absl::StatusOr<ModelConfig> config = ConfigOf(yarn);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kYarn);
  EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 4.0);
  EXPECT_EQ(config->rope_scaling.original_context_tokens, 16);

  const std::string legacy =
      EditGguf(TinyLlamaGguf(),
               {.add = [](GgufWriter* w) { w->AddFloat32("llama.rope.scale_linear", 2.0f); }});
  config = ConfigOf(legacy);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(config->rope_scaling.factor, 2.0);

  const std::string no_factor =
      EditGguf(TinyLlamaGguf(),
               {.add = [](GgufWriter* w) { w->AddString("llama.rope.scaling.type", "linear"); }});
  EXPECT_THAT(ConfigOf(no_factor).status().message(),
              HasSubstr("required metadata key 'llama.rope.scaling.factor' is missing"));
}

TEST(GgufModelConfigTest, ReadThroughEnv) {
  std::unique_ptr<MemEnv> env = NewMemEnv();
  ASSERT_TRUE(env->WriteFileAtomically("/m/tiny.gguf", TinyLlamaGguf()).ok());
  absl::StatusOr<ModelConfig> config = ReadGgufModelConfig(env.get(), "/m/tiny.gguf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->hidden_size, 8);
  EXPECT_EQ(ReadGgufModelConfig(env.get(), "/m/missing.gguf").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gqa
