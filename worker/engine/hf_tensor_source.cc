#include "worker/engine/hf_tensor_source.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/safetensors/hf_model_config.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr absl::string_view kLayerPrefix = "model.layers.";

// Hugging Face name -> engine (GGUF) name.
constexpr std::pair<absl::string_view, absl::string_view> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
// The same within model.layers.N. -> blk.N.
constexpr std::pair<absl::string_view, absl::string_view> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
// Older checkpoints store RoPE's inverse frequencies, which config.json
// already determines; they are skipped.
constexpr absl::string_view kIgnoredLayerSuffix = "self_attn.rotary_emb.inv_freq";

// The layer index and the rest of "model.layers.N.rest"; nullopt otherwise.
std::optional<std::pair<int64_t, absl::string_view>> SplitLayerName(absl::string_view name) {
  if (!absl::StartsWith(name, kLayerPrefix)) return std::nullopt;
  name.remove_prefix(kLayerPrefix.size());
  const size_t dot = name.find('.');
  if (dot == absl::string_view::npos || dot == 0 || dot > 9) return std::nullopt;
  const absl::string_view digits = name.substr(0, dot);
  int64_t layer = 0;
  if ((digits.size() > 1 && digits[0] == '0') ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(digits, &layer)) {
    return std::nullopt;
  }
  return std::make_pair(layer, name.substr(dot + 1));
}

std::optional<WeightFormat> ToWeightFormat(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32:
      return WeightFormat::kF32;
    case SafetensorsDtype::kF16:
      return WeightFormat::kF16;
    case SafetensorsDtype::kBF16:
      return WeightFormat::kBF16;
    default:
      return std::nullopt;
  }
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

struct ExpectedTensor {
  std::string hf_name;
  std::vector<int64_t> shape;
  bool is_norm;
  bool required;
  std::string why;  // the config.json keys that imply the shape
};

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, f = c.intermediate_size, v = c.vocab_size;
  const int64_t q = c.num_query_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const std::string dims = absl::StrCat("hidden_size ", h, ", vocab_size ", v);
  const std::string attn =
      absl::StrCat("hidden_size ", h, ", ", c.num_query_heads, " attention heads, ", c.num_kv_heads,
                   " key_value heads, head_dim ", c.head_dim);
  const std::string ffn = absl::StrCat("hidden_size ", h, ", intermediate_size ", f);
  std::vector<ExpectedTensor> out = {
      {"model.embed_tokens.weight", {v, h}, false, true, dims},
      {"model.norm.weight", {h}, true, true, dims},
      // Tied checkpoints usually omit it; when present it is checked and,
      // like transformers does, ignored in favour of the embedding.
      {"lm_head.weight", {v, h}, false, !c.tied_embeddings, dims},
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat(kLayerPrefix, l, ".");
    out.push_back({p + "input_layernorm.weight", {h}, true, true, attn});
    out.push_back({p + "self_attn.q_proj.weight", {q, h}, false, true, attn});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}, false, true, attn});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}, false, true, attn});
    out.push_back({p + "self_attn.o_proj.weight", {h, q}, false, true, attn});
    out.push_back({p + "post_attention_layernorm.weight", {h}, true, true, ffn});
    out.push_back({p + "mlp.gate_proj.weight", {f, h}, false, true, ffn});
    out.push_back({p + "mlp.up_proj.weight", {f, h}, false, true, ffn});
    out.push_back({p + "mlp.down_proj.weight", {h, f}, false, true, ffn});
  }
  return out;
}

class HfTensorSource : public TensorSource {
 public:
  HfTensorSource(std::string dir, std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                 ModelConfig config, std::string fingerprint)
      : dir_(std::move(dir)),
        checkpoint_(std::move(checkpoint)),
        config_(std::move(config)),
        fingerprint_(std::move(fingerprint)) {}

  const ModelConfig& config() const override { return config_; }
  RopeLayout rope_layout() const override { return RopeLayout::kHalfSplit; }
  const std::string& fingerprint() const override { return fingerprint_; }

  absl::StatusOr<RawTensor> Find(absl::string_view name) const override {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      return absl::NotFoundError(absl::StrCat(dir_, ": no tensor '", name, "'"));
    }
    return it->second;
  }

  // Checks the checkpoint against config_ and fills tensors_.
  absl::Status Build(absl::string_view config_path) {
    for (const ExpectedTensor& expected : ExpectedTensors(config_)) {
      RETURN_IF_ERROR(Add(expected, config_path));
    }
    for (const std::string& name : checkpoint_->TensorNames()) {
      RETURN_IF_ERROR(CheckKnown(name, config_path));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Add(const ExpectedTensor& expected, absl::string_view config_path) {
    const SafetensorsModelFile* file = nullptr;
    const SafetensorsTensor* tensor = checkpoint_->FindTensor(expected.hf_name, &file);
    if (tensor == nullptr) {
      if (!expected.required) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(
          dir_, ": tensor '", expected.hf_name, "' is missing",
          expected.hf_name == "lm_head.weight" ? " (tie_word_embeddings is false in config.json)"
                                               : ""));
    }
    const std::optional<WeightFormat> format = ToWeightFormat(tensor->dtype);
    if (!format) {
      return absl::UnimplementedError(absl::StrCat(
          file->path(), ": tensor '", tensor->name, "' has dtype ",
          SafetensorsDtypeName(tensor->dtype), "; the engine computes with F32, F16 and BF16"));
    }
    if (tensor->shape != expected.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          file->path(), ": tensor '", tensor->name, "' has shape ", ShapeString(tensor->shape),
          " but ", config_path, " (", expected.why, ") implies ", ShapeString(expected.shape),
          ": self-contradicting checkpoint"));
    }
    RawTensor raw;
    raw.name = tensor->name;
    raw.format = *format;
    raw.shape = tensor->shape;
    raw.bytes = tensor->data;
    const size_t element_bytes = SafetensorsDtypeBytes(tensor->dtype);
    const bool misaligned = reinterpret_cast<uintptr_t>(raw.bytes.data()) % element_bytes != 0;
    if (expected.is_norm && *format != WeightFormat::kF32) {
      raw.bytes = NormToF32(*format, tensor->data);
      raw.format = WeightFormat::kF32;
    } else if (misaligned) {
      raw.bytes = Own(tensor->data);
    }
    tensors_.emplace(*EngineTensorName(tensor->name), std::move(raw));
    return absl::OkStatus();
  }

  // A tensor the mapping does not use: fine only for RoPE's inv_freq.
  absl::Status CheckKnown(const std::string& name, absl::string_view config_path) const {
    const auto layer = SplitLayerName(name);
    if (layer.has_value() && layer->first >= config_.num_layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir_, ": tensor '", name, "' is outside num_hidden_layers=", config_.num_layers, " of ",
          config_path, ": self-contradicting checkpoint"));
    }
    if (layer.has_value() && layer->second == kIgnoredLayerSuffix) return absl::OkStatus();
    const std::optional<std::string> engine_name = EngineTensorName(name);
    if (engine_name.has_value() && tensors_.contains(*engine_name)) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrCat(
        dir_, ": tensor '", name,
        "' is not part of the Llama/Mistral layout this engine runs (it would be ignored)"));
  }

  // Decodes an F16/BF16 norm vector into an owned F32 copy.
  absl::Span<const uint8_t> NormToF32(WeightFormat format, absl::Span<const uint8_t> bytes) {
    const size_t n = bytes.size() / 2;
    auto buffer = std::make_unique<uint8_t[]>(n * sizeof(float));
    for (size_t i = 0; i < n; ++i) {
      const uint16_t bits = static_cast<uint16_t>(bytes[2 * i] | bytes[2 * i + 1] << 8);
      const float value = format == WeightFormat::kF16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
      std::memcpy(buffer.get() + i * sizeof(float), &value, sizeof(float));
    }
    owned_.push_back(std::move(buffer));
    return {owned_.back().get(), n * sizeof(float)};
  }

  // An aligned copy (operator new[] aligns for every scalar type).
  absl::Span<const uint8_t> Own(absl::Span<const uint8_t> bytes) {
    auto buffer = std::make_unique<uint8_t[]>(bytes.size());
    std::memcpy(buffer.get(), bytes.data(), bytes.size());
    owned_.push_back(std::move(buffer));
    return {owned_.back().get(), bytes.size()};
  }

  std::string dir_;
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
  ModelConfig config_;
  std::string fingerprint_;
  absl::flat_hash_map<std::string, RawTensor> tensors_;  // by engine name
  std::vector<std::unique_ptr<uint8_t[]>> owned_;        // converted norms, realigned copies
};

}  // namespace

std::optional<std::string> EngineTensorName(absl::string_view hf_name) {
  for (const auto& [hf, engine] : kGlobalNames) {
    if (hf_name == hf) return std::string(engine);
  }
  const auto layer = SplitLayerName(hf_name);
  if (!layer.has_value()) return std::nullopt;
  for (const auto& [hf, engine] : kLayerNames) {
    if (layer->second == hf) return absl::StrCat("blk.", layer->first, ".", engine);
  }
  return std::nullopt;
}

std::string HfFingerprint(absl::string_view config_json, const SafetensorsCheckpoint& checkpoint) {
  constexpr uint64_t kSample = 1 << 20;
  Sha256Hasher hasher;
  hasher.UpdateU64(config_json.size());
  hasher.Update(config_json);
  hasher.UpdateU64(checkpoint.files().size());
  for (const std::unique_ptr<SafetensorsModelFile>& model_file : checkpoint.files()) {
    const SafetensorsFile& file = model_file->file();
    hasher.UpdateU64(file.header_bytes().size());
    hasher.Update(file.header_bytes());
    const absl::Span<const uint8_t> data = file.data_buffer();
    hasher.UpdateU64(data.size());
    hasher.Update(data.subspan(0, std::min<uint64_t>(kSample, data.size())));
    if (data.size() > kSample) hasher.Update(data.subspan(data.size() - kSample));
  }
  return DigestToHex(hasher.Finish());
}

absl::StatusOr<std::unique_ptr<TensorSource>> OpenHfTensorSource(Env* env, const std::string& dir) {
  const std::string config_path = absl::StrCat(dir, "/config.json");
  ASSIGN_OR_RETURN(const std::string config_json, env->ReadFile(config_path));
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromHfJson(config_json, config_path));
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint,
                   OpenSafetensorsCheckpoint(env, dir));
  std::string fingerprint = HfFingerprint(config_json, *checkpoint);
  auto source = std::make_unique<HfTensorSource>(dir, std::move(checkpoint), std::move(config),
                                                 std::move(fingerprint));
  RETURN_IF_ERROR(source->Build(config_path));
  return std::unique_ptr<TensorSource>(std::move(source));
}

}  // namespace gqa
