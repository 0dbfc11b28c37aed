#include "core/safetensors/hf_model_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

constexpr char kSmolLm2[] = R"({
  "_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576,
  "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
  "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
  "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "rope_theta": 100000, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 49152
})";

TEST(HfModelConfigTest, ReadsALlamaConfig) {
  auto config = ModelConfigFromHfJson(kSmolLm2, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "llama");
  EXPECT_EQ(config->name, "HuggingFaceTB/SmolLM2-135M-Instruct");
  EXPECT_EQ(config->num_layers, 30);
  EXPECT_EQ(config->hidden_size, 576);
  EXPECT_EQ(config->num_query_heads, 9);
  EXPECT_EQ(config->num_kv_heads, 3);
  EXPECT_EQ(config->head_dim, 64);
  EXPECT_EQ(config->intermediate_size, 1536);
  EXPECT_EQ(config->vocab_size, 49152);
  EXPECT_EQ(config->context_tokens, 8192);
  EXPECT_EQ(config->rope_theta, 100000.0);  // an integer where a float is expected is fine
  EXPECT_EQ(config->norm_eps, 1e-5);
  EXPECT_TRUE(config->tied_embeddings);
  EXPECT_EQ(config->rope_scaling.type, RopeScalingType::kNone);
}

TEST(HfModelConfigTest, DefaultsForOptionalKeys) {
  auto config = ModelConfigFromHfJson(
      R"({"model_type": "mistral", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 8, "num_key_value_heads": null, "head_dim": null,
          "intermediate_size": 96, "vocab_size": 100, "max_position_embeddings": 512,
          "rms_norm_eps": 1e-6, "sliding_window": 128})",
      "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "mistral");
  EXPECT_EQ(config->num_kv_heads, 8);
  EXPECT_EQ(config->head_dim, 8);
  EXPECT_EQ(config->rope_theta, 10000.0);
  EXPECT_FALSE(config->tied_embeddings);
  EXPECT_EQ(config->context_tokens, 128) << "sliding_window caps the context";
}

TEST(HfModelConfigTest, Llama3AndYarnScaling) {
  const std::string base = R"({"model_type": "llama", "num_hidden_layers": 1,
      "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 96, "vocab_size": 100,
      "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, )";
  auto llama3 = ModelConfigFromHfJson(
      base + R"("rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192, "rope_type": "llama3"}})",
      "config.json");
  ASSERT_TRUE(llama3.ok()) << llama3.status();
  EXPECT_EQ(llama3->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_EQ(llama3->rope_scaling.factor, 8.0);
  EXPECT_EQ(llama3->rope_scaling.original_context_tokens, 8192);
  EXPECT_EQ(llama3->rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(llama3->rope_scaling.high_freq_factor, 4.0);

  auto yarn = ModelConfigFromHfJson(base + R"("rope_scaling": {"type": "yarn", "factor": 4}})",
                                    "config.json");
  ASSERT_TRUE(yarn.ok()) << yarn.status();
  EXPECT_EQ(yarn->rope_scaling.type, RopeScalingType::kYarn);
  EXPECT_EQ(yarn->rope_scaling.original_context_tokens, 131072);

  auto linear = ModelConfigFromHfJson(
      base + R"("rope_scaling": {"type": "linear", "rope_type": "linear", "factor": 2.0}})",
      "config.json");
  ASSERT_TRUE(linear.ok()) << linear.status();
  EXPECT_EQ(linear->rope_scaling.type, RopeScalingType::kLinear);

  auto fallback =
      ModelConfigFromHfJson(base + R"("rope_scaling": {"rope_type": "default"}})", "config.json");
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->rope_scaling.type, RopeScalingType::kNone);
}

TEST(HfModelConfigTest, ErrorsNameTheFileAndKey) {
  absl::Status status =
      ModelConfigFromHfJson(R"({"model_type": "llama", "hidden_size": 8})", "/ckpt/config.json")
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("/ckpt/config.json: required key 'num_hidden_layers' is missing"));
}

}  // namespace
}  // namespace gqa
