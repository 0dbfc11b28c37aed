#include "tools/gqa/model_presets.h"

#include <set>
#include <string>

#include "core/kv_size.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// The published configurations, written out here independently of
// model_presets.cc.
struct Published {
  const char* name;
  int64_t layers, hidden, query_heads, kv_heads, head_dim, ffn, vocab, context;
  double rope_theta;
};
constexpr Published kPublished[] = {
    {"llama-2-7b", 32, 4096, 32, 32, 128, 11008, 32000, 4096, 10000},
    {"llama-2-13b", 40, 5120, 40, 40, 128, 13824, 32000, 4096, 10000},
    {"llama-2-70b", 80, 8192, 64, 8, 128, 28672, 32000, 4096, 10000},
    {"llama-3-8b", 32, 4096, 32, 8, 128, 14336, 128256, 8192, 500000},
    {"llama-3-70b", 80, 8192, 64, 8, 128, 28672, 128256, 8192, 500000},
    {"llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, 128256, 131072, 500000},
    {"llama-3.1-70b", 80, 8192, 64, 8, 128, 28672, 128256, 131072, 500000},
    {"mistral-7b", 32, 4096, 32, 8, 128, 14336, 32000, 32768, 10000},
    {"falcon-7b", 32, 4544, 71, 1, 64, 18176, 65024, 2048, 10000},
    {"smollm2-135m", 30, 576, 9, 3, 64, 1536, 49152, 8192, 100000},
};

const ModelConfig& Preset(const char* name) {
  const ModelPreset* preset = FindModelPreset(name);
  EXPECT_NE(preset, nullptr) << name;
  static const ModelConfig kEmpty;
  return preset != nullptr ? preset->config : kEmpty;
}

TEST(KvSizePresetsTest, MatchThePublishedConfigs) {
  EXPECT_EQ(ModelPresets().size(), std::size(kPublished));
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.name);
    const ModelConfig& c = Preset(p.name);
    EXPECT_EQ(c.num_layers, p.layers);
    EXPECT_EQ(c.hidden_size, p.hidden);
    EXPECT_EQ(c.num_query_heads, p.query_heads);
    EXPECT_EQ(c.num_kv_heads, p.kv_heads);
    EXPECT_EQ(c.head_dim, p.head_dim);
    EXPECT_EQ(c.hidden_size, c.num_query_heads * c.head_dim);
    EXPECT_EQ(c.intermediate_size, p.ffn);
    EXPECT_EQ(c.vocab_size, p.vocab);
    EXPECT_EQ(c.context_tokens, p.context);
    EXPECT_EQ(c.rope_theta, p.rope_theta);
    EXPECT_TRUE(c.Validate().ok()) << c.Validate();
    EXPECT_FALSE(c.name.empty());
  }
}

TEST(KvSizePresetsTest, KvBytesFollowTheFormulaAtTrainedContext) {
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.name);
    // bf16: layers x kv_heads x 2 x tokens x head_dim x 2 bytes; every trained
    // context is a whole number of 16-token blocks, so nothing is padded.
    const int64_t bf16_bytes = p.layers * p.kv_heads * 2 * p.context * p.head_dim * 2;
    absl::StatusOr<KvPlan> plan =
        PlanKv(Preset(p.name), {.context_tokens = p.context, .dtype = DType::kBF16});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kv_bytes_per_sequence_formula, bf16_bytes);
    EXPECT_EQ(plan->kv_bytes_per_sequence, bf16_bytes);
    EXPECT_EQ(plan->kv_bytes_per_token, p.layers * p.kv_heads * 2 * p.head_dim * 2);

    // fp8: one byte per element plus a 4-byte scale per token, KV head, K and V.
    plan = PlanKv(Preset(p.name), {.context_tokens = p.context, .dtype = DType::kFp8E4M3});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kv_bytes_per_sequence_formula, bf16_bytes / 2);
    EXPECT_EQ(plan->kv_bytes_per_sequence,
              p.layers * p.kv_heads * 2 * p.context * (p.head_dim + 4));
  }
  // A few spelled out.
  EXPECT_EQ(PlanKv(Preset("llama-2-7b"), {.context_tokens = 4096})->kv_bytes_per_sequence,
            int64_t{2'147'483'648});
  EXPECT_EQ(PlanKv(Preset("llama-3-8b"), {.context_tokens = 8192})->kv_bytes_per_sequence,
            int64_t{1'073'741'824});
  EXPECT_EQ(PlanKv(Preset("smollm2-135m"), {.context_tokens = 8192})->kv_bytes_per_sequence,
            int64_t{188'743'680});
  EXPECT_EQ(PlanKv(Preset("llama-2-70b"), {.context_tokens = 4096})->kv_bytes_per_sequence,
            int64_t{1'342'177'280});
}

TEST(KvSizePresetsTest, TensorParallelRulesOnPresets) {
  const ModelConfig& smol = Preset("smollm2-135m");
  EXPECT_TRUE(ValidateTensorParallel(smol, 1).ok());
  EXPECT_TRUE(ValidateTensorParallel(smol, 3).ok());
  EXPECT_THAT(ValidateTensorParallel(smol, 6).message(), HasSubstr("query heads"));
  EXPECT_THAT(ValidateTensorParallel(smol, 9).message(), HasSubstr("MLP"));

  const ModelConfig& llama = Preset("llama-2-70b");
  absl::StatusOr<KvPlan> one = PlanKv(llama, {.context_tokens = 4096});
  absl::StatusOr<KvPlan> sixteen = PlanKv(llama, {.context_tokens = 4096, .tp = 16});
  ASSERT_TRUE(one.ok() && sixteen.ok());
  EXPECT_EQ(sixteen->kv_bytes_per_sequence_per_rank, one->kv_bytes_per_sequence / 8);

  // Falcon's 71 query heads allow tp 1 and 71; its vocabulary refuses 71.
  EXPECT_TRUE(ValidateTensorParallel(Preset("falcon-7b"), 1).ok());
  EXPECT_THAT(ValidateTensorParallel(Preset("falcon-7b"), 71).message(), HasSubstr("vocabulary"));
}

TEST(KvSizePresetsTest, LookupAndNames) {
  EXPECT_EQ(FindModelPreset("llama-70b"), nullptr);
  EXPECT_EQ(FindModelPreset("LLAMA-2-70B"), nullptr);
  std::set<std::string> names;
  for (const ModelPreset& preset : ModelPresets()) {
    EXPECT_TRUE(names.insert(preset.name).second) << preset.name;
    EXPECT_THAT(ModelPresetNames(), HasSubstr(preset.name));
    EXPECT_FALSE(preset.source.empty());
  }
  EXPECT_THAT(FindModelPreset("mistral-7b")->note, HasSubstr("sliding window"));
  EXPECT_THAT(FindModelPreset("falcon-7b")->note, HasSubstr("not a Llama-family"));
}

}  // namespace
}  // namespace gqa
