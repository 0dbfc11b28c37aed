#include "tools/gqa/model_presets.h"

#include "absl/strings/str_join.h"

namespace gqa {
namespace {

struct Shape {
  int64_t num_layers;
  int64_t hidden_size;
  int64_t num_query_heads;
  int64_t num_kv_heads;
  int64_t head_dim;
  int64_t intermediate_size;
  int64_t vocab_size;
  int64_t context_tokens;
  double rope_theta;
};

ModelPreset MakePreset(std::string name, std::string display_name, std::string source,
                       std::string note, const Shape& shape, bool tied_embeddings = false) {
  ModelPreset preset;
  preset.name = std::move(name);
  preset.source = std::move(source);
  preset.note = std::move(note);
  ModelConfig& config = preset.config;
  config.name = std::move(display_name);
  config.num_layers = shape.num_layers;
  config.hidden_size = shape.hidden_size;
  config.num_query_heads = shape.num_query_heads;
  config.num_kv_heads = shape.num_kv_heads;
  config.head_dim = shape.head_dim;
  config.intermediate_size = shape.intermediate_size;
  config.vocab_size = shape.vocab_size;
  config.context_tokens = shape.context_tokens;
  config.rope_theta = shape.rope_theta;
  config.norm_eps = 1e-5;
  config.tied_embeddings = tied_embeddings;
  return preset;
}

// Llama 3.1's RoPE scaling: 8x over the 8192 tokens Llama 3 was trained on.
ModelPreset WithLlama31Scaling(ModelPreset preset) {
  preset.config.rope_scaling.type = RopeScalingType::kLlama3;
  preset.config.rope_scaling.factor = 8.0;
  preset.config.rope_scaling.original_context_tokens = 8192;
  preset.config.rope_scaling.low_freq_factor = 1.0;
  preset.config.rope_scaling.high_freq_factor = 4.0;
  return preset;
}

std::vector<ModelPreset> BuildPresets() {
  std::vector<ModelPreset> presets;
  // Shape: layers, hidden, query heads, kv heads, head_dim, ffn, vocab, context, rope theta.
  presets.push_back(MakePreset("llama-2-7b", "Llama-2-7B", "meta-llama/Llama-2-7b-hf config.json",
                               "", {32, 4096, 32, 32, 128, 11008, 32000, 4096, 10000.0}));
  presets.push_back(MakePreset("llama-2-13b", "Llama-2-13B",
                               "meta-llama/Llama-2-13b-hf config.json", "",
                               {40, 5120, 40, 40, 128, 13824, 32000, 4096, 10000.0}));
  presets.push_back(MakePreset("llama-2-70b", "Llama-2-70B",
                               "meta-llama/Llama-2-70b-hf config.json", "",
                               {80, 8192, 64, 8, 128, 28672, 32000, 4096, 10000.0}));
  presets.push_back(MakePreset("llama-3-8b", "Llama-3-8B", "meta-llama/Meta-Llama-3-8B config.json",
                               "", {32, 4096, 32, 8, 128, 14336, 128256, 8192, 500000.0}));
  presets.push_back(MakePreset("llama-3-70b", "Llama-3-70B",
                               "meta-llama/Meta-Llama-3-70B config.json", "",
                               {80, 8192, 64, 8, 128, 28672, 128256, 8192, 500000.0}));
  presets.push_back(WithLlama31Scaling(
      MakePreset("llama-3.1-8b", "Llama-3.1-8B", "meta-llama/Llama-3.1-8B config.json",
                 "128K context through llama3 RoPE scaling (factor 8 over 8192)",
                 {32, 4096, 32, 8, 128, 14336, 128256, 131072, 500000.0})));
  presets.push_back(WithLlama31Scaling(
      MakePreset("llama-3.1-70b", "Llama-3.1-70B", "meta-llama/Llama-3.1-70B config.json",
                 "128K context through llama3 RoPE scaling (factor 8 over 8192)",
                 {80, 8192, 64, 8, 128, 28672, 128256, 131072, 500000.0})));
  presets.push_back(
      MakePreset("mistral-7b", "Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1 config.json",
                 "v0.1 attends through a 4096-token sliding window, so its KV need is bounded "
                 "like --kv-policy window:4096 (v0.2 and later dropped the window)",
                 {32, 4096, 32, 8, 128, 14336, 32000, 32768, 10000.0}));
  presets.push_back(
      MakePreset("falcon-7b", "Falcon-7B", "tiiuae/falcon-7b config.json",
                 "Falcon is not a Llama-family decoder (parallel "
                 "attention and MLP, LayerNorm, GELU MLP): gqaserve cannot serve it; planning only",
                 {32, 4544, 71, 1, 64, 18176, 65024, 2048, 10000.0}, /*tied_embeddings=*/true));
  presets.push_back(
      MakePreset("smollm2-135m", "SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M config.json",
                 "gqaserve's default model (SmolLM2-135M-Instruct has the same shape)",
                 {30, 576, 9, 3, 64, 1536, 49152, 8192, 100000.0}, /*tied_embeddings=*/true));
  return presets;
}

}  // namespace

const std::vector<ModelPreset>& ModelPresets() {
  static const std::vector<ModelPreset>* const presets =
      new std::vector<ModelPreset>(BuildPresets());
  return *presets;
}

const ModelPreset* FindModelPreset(absl::string_view name) {
  for (const ModelPreset& preset : ModelPresets()) {
    if (preset.name == name) return &preset;
  }
  return nullptr;
}

std::string ModelPresetNames() {
  return absl::StrJoin(ModelPresets(), ", ", [](std::string* out, const ModelPreset& preset) {
    out->append(preset.name);
  });
}

}  // namespace gqa
