#include "core/gguf/gguf_model_config.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr int64_t kMaxCount = (int64_t{1} << 31) - 1;  // keeps products of two in int64

// Reads the `{arch}.*` keys of one file; every error names the file and key.
class KeyReader {
 public:
  KeyReader(const GgufFile& file, absl::string_view arch) : file_(file), arch_(arch) {}

  std::string Key(absl::string_view suffix) const { return absl::StrCat(arch_, ".", suffix); }

  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_.display_name(), ": ", what));
  }
  absl::Status Unimplemented(absl::string_view what) const {
    return absl::UnimplementedError(absl::StrCat(file_.display_name(), ": ", what));
  }

  // A count in [1, 2^31); `fallback` when absent (nullopt: required).
  absl::StatusOr<int64_t> Count(absl::string_view suffix,
                                std::optional<int64_t> fallback = std::nullopt) const {
    const std::string key = Key(suffix);
    if (!file_.HasKey(key)) {
      if (fallback.has_value()) return *fallback;
      return Invalid(absl::StrCat("required metadata key '", key, "' is missing"));
    }
    ASSIGN_OR_RETURN(uint64_t value, file_.GetUint(key));
    if (value < 1 || value > static_cast<uint64_t>(kMaxCount)) {
      return Invalid(absl::StrCat("key '", key, "': ", value, " is out of range [1, 2^31)"));
    }
    return static_cast<int64_t>(value);
  }

  // A finite float; `fallback` when absent (nullopt: required).
  absl::StatusOr<double> Float(absl::string_view suffix,
                               std::optional<double> fallback = std::nullopt) const {
    const std::string key = Key(suffix);
    if (!file_.HasKey(key)) {
      if (fallback.has_value()) return *fallback;
      return Invalid(absl::StrCat("required metadata key '", key, "' is missing"));
    }
    ASSIGN_OR_RETURN(double value, file_.GetFloat(key));
    if (!std::isfinite(value))
      return Invalid(absl::StrCat("key '", key, "': ", value, " is not finite"));
    return value;
  }

  bool Has(absl::string_view suffix) const { return file_.HasKey(Key(suffix)); }

 private:
  const GgufFile& file_;
  std::string arch_;
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ReadHeadDim(const KeyReader& keys, ModelConfig* config) {
  ASSIGN_OR_RETURN(int64_t key_length, keys.Count("attention.key_length", 0));
  ASSIGN_OR_RETURN(int64_t value_length, keys.Count("attention.value_length", key_length));
  ASSIGN_OR_RETURN(int64_t rope_dims, keys.Count("rope.dimension_count", 0));
  if (value_length != key_length) {
    return keys.Unimplemented(absl::StrCat("key head dim ", key_length, " != value head dim ",
                                           value_length, " is not supported"));
  }
  if (key_length > 0) {
    config->head_dim = key_length;
  } else if (rope_dims > 0) {
    config->head_dim = rope_dims;
  } else {
    if (config->hidden_size % config->num_query_heads != 0) {
      return keys.Invalid(absl::StrCat("no head dim key, and ", keys.Key("embedding_length"), "=",
                                       config->hidden_size, " is not a multiple of ",
                                       keys.Key("attention.head_count"), "=",
                                       config->num_query_heads));
    }
    config->head_dim = config->hidden_size / config->num_query_heads;
  }
  if (rope_dims > 0 && rope_dims != config->head_dim) {
    return keys.Unimplemented(absl::StrCat("partial rotary embeddings (",
                                           keys.Key("rope.dimension_count"), "=", rope_dims,
                                           ", head dim ", config->head_dim, ") are not supported"));
  }
  return absl::OkStatus();
}

absl::Status ReadRopeScaling(const GgufFile& file, const KeyReader& keys, ModelConfig* config) {
  RopeScaling& scaling = config->rope_scaling;
  if (file.FindTensor("rope_freqs.weight") != nullptr) {
    return keys.Unimplemented(
        "tensor 'rope_freqs.weight' (per-dimension RoPE frequency factors, Llama 3.1 style) is "
        "not supported");
  }
  std::string type = "none";
  if (keys.Has("rope.scaling.type")) {
    ASSIGN_OR_RETURN(absl::string_view name, file.GetString(keys.Key("rope.scaling.type")));
    type = absl::AsciiStrToLower(name);
  } else if (keys.Has("rope.scale_linear")) {  // the pre-2024 spelling
    ASSIGN_OR_RETURN(scaling.factor, keys.Float("rope.scale_linear"));
    if (scaling.factor != 1.0) scaling.type = RopeScalingType::kLinear;
    return absl::OkStatus();
  }
  if (type == "none") return absl::OkStatus();
  if (type == "linear") {
    scaling.type = RopeScalingType::kLinear;
  } else if (type == "yarn") {
    scaling.type = RopeScalingType::kYarn;
  } else {
    return keys.Unimplemented(absl::StrCat("key '", keys.Key("rope.scaling.type"), "': '", type,
                                           "' is not supported (none, linear, yarn)"));
  }
  ASSIGN_OR_RETURN(scaling.factor, keys.Float("rope.scaling.factor"));
  ASSIGN_OR_RETURN(scaling.original_context_tokens,
                   keys.Count("rope.scaling.original_context_length", 0));
  if (scaling.type == RopeScalingType::kYarn && scaling.original_context_tokens == 0) {
    return keys.Invalid(absl::StrCat("yarn scaling needs '",
                                     keys.Key("rope.scaling.original_context_length"), "'"));
  }
  return absl::OkStatus();
}

absl::Status ReadVocab(const GgufFile& file, const KeyReader& keys, ModelConfig* config) {
  std::optional<int64_t> num_tokens;
  if (file.HasKey("tokenizer.ggml.tokens")) {
    ASSIGN_OR_RETURN(uint64_t n, file.GetArrayLength("tokenizer.ggml.tokens"));
    num_tokens = static_cast<int64_t>(n);
  }
  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  int64_t fallback = num_tokens.value_or(0);
  if (fallback == 0 && embd != nullptr && embd->shape.size() == 2) fallback = embd->shape[1];
  if (fallback == 0 && !keys.Has("vocab_size")) {
    return keys.Invalid(absl::StrCat("cannot tell the vocabulary size: no '",
                                     keys.Key("vocab_size"),
                                     "', 'tokenizer.ggml.tokens' or 2-D 'token_embd.weight'"));
  }
  ASSIGN_OR_RETURN(config->vocab_size, keys.Count("vocab_size", fallback));
  if (num_tokens.has_value() && *num_tokens != config->vocab_size) {
    return keys.Invalid(absl::StrCat("'tokenizer.ggml.tokens' has ", *num_tokens, " entries but ",
                                     keys.Key("vocab_size"), " is ", config->vocab_size,
                                     ": self-contradicting file"));
  }
  return absl::OkStatus();
}

// Checks `name` exists (when `required`) with exactly `expected` shape.
absl::Status CheckTensor(const GgufFile& file, const KeyReader& keys, const std::string& name,
                         const std::vector<int64_t>& expected, absl::string_view why,
                         bool required = true) {
  const GgufTensorInfo* info = file.FindTensor(name);
  if (info == nullptr) {
    if (!required) return absl::OkStatus();
    return keys.Invalid(absl::StrCat("tensor '", name, "' is missing"));
  }
  if (info->shape != expected) {
    return keys.Invalid(absl::StrCat("tensor '", name, "' has shape ", ShapeString(info->shape),
                                     " but the metadata (", why, ") implies ",
                                     ShapeString(expected), ": self-contradicting file"));
  }
  return absl::OkStatus();
}

absl::Status CheckTensors(const GgufFile& file, const KeyReader& keys, const ModelConfig& c) {
  const int64_t h = c.hidden_size;
  const int64_t q = c.num_query_heads * c.head_dim;
  const int64_t kv = c.num_kv_heads * c.head_dim;
  const std::string dims = absl::StrCat("hidden ", h, ", vocab ", c.vocab_size);
  RETURN_IF_ERROR(CheckTensor(file, keys, "token_embd.weight", {h, c.vocab_size}, dims));
  RETURN_IF_ERROR(CheckTensor(file, keys, "output.weight", {h, c.vocab_size}, dims, false));
  RETURN_IF_ERROR(CheckTensor(file, keys, "output_norm.weight", {h}, dims));
  const std::string attn = absl::StrCat("hidden ", h, ", ", c.num_query_heads, " query heads, ",
                                        c.num_kv_heads, " kv heads, head_dim ", c.head_dim);
  const std::string ffn = absl::StrCat("hidden ", h, ", feed_forward_length ", c.intermediate_size);
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    auto name = [layer](absl::string_view part) { return absl::StrCat("blk.", layer, ".", part); };
    const int64_t f = c.intermediate_size;
    RETURN_IF_ERROR(CheckTensor(file, keys, name("attn_norm.weight"), {h}, attn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("attn_q.weight"), {h, q}, attn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("attn_k.weight"), {h, kv}, attn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("attn_v.weight"), {h, kv}, attn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("attn_output.weight"), {q, h}, attn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("ffn_norm.weight"), {h}, ffn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("ffn_gate.weight"), {h, f}, ffn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("ffn_up.weight"), {h, f}, ffn));
    RETURN_IF_ERROR(CheckTensor(file, keys, name("ffn_down.weight"), {f, h}, ffn));
  }
  for (const GgufTensorInfo& info : file.tensors()) {
    if (!absl::StartsWith(info.name, "blk.")) continue;
    absl::string_view rest = absl::string_view(info.name).substr(4);
    int64_t layer = -1;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('.')), &layer) || layer < 0 ||
        layer >= c.num_layers) {
      return keys.Invalid(absl::StrCat("tensor '", info.name, "' is outside ",
                                       keys.Key("block_count"), "=", c.num_layers,
                                       ": self-contradicting file"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file) {
  const std::string& display = file.display_name();
  if (!file.HasKey("general.architecture")) {
    return absl::InvalidArgumentError(
        absl::StrCat(display, ": required metadata key 'general.architecture' is missing"));
  }
  ASSIGN_OR_RETURN(absl::string_view arch, file.GetString("general.architecture"));
  if (arch != "llama" && arch != "mistral") {
    return absl::UnimplementedError(
        absl::StrCat(display, ": architecture '", arch, "' is not supported (llama, mistral)"));
  }
  const KeyReader keys(file, arch);
  ModelConfig config;
  config.architecture = std::string(arch);
  if (file.HasKey("general.name")) {
    ASSIGN_OR_RETURN(absl::string_view name, file.GetString("general.name"));
    config.name = std::string(name);
  }
  if (keys.Has("expert_count")) {
    ASSIGN_OR_RETURN(uint64_t experts, file.GetUint(keys.Key("expert_count")));
    if (experts > 0) {
      return keys.Unimplemented(absl::StrCat("mixture-of-experts (", keys.Key("expert_count"), "=",
                                             experts, ") is not supported"));
    }
  }
  ASSIGN_OR_RETURN(config.num_layers, keys.Count("block_count"));
  ASSIGN_OR_RETURN(config.hidden_size, keys.Count("embedding_length"));
  ASSIGN_OR_RETURN(config.num_query_heads, keys.Count("attention.head_count"));
  ASSIGN_OR_RETURN(config.num_kv_heads,
                   keys.Count("attention.head_count_kv", config.num_query_heads));
  ASSIGN_OR_RETURN(config.intermediate_size, keys.Count("feed_forward_length"));
  ASSIGN_OR_RETURN(config.context_tokens, keys.Count("context_length"));
  ASSIGN_OR_RETURN(config.rope_theta, keys.Float("rope.freq_base", 10000.0));
  ASSIGN_OR_RETURN(config.norm_eps, keys.Float("attention.layer_norm_rms_epsilon"));
  RETURN_IF_ERROR(ReadHeadDim(keys, &config));
  RETURN_IF_ERROR(ReadRopeScaling(file, keys, &config));
  RETURN_IF_ERROR(ReadVocab(file, keys, &config));
  config.tied_embeddings = file.FindTensor("output.weight") == nullptr;
  RETURN_IF_ERROR(Annotate(config.Validate(), display));
  RETURN_IF_ERROR(CheckTensors(file, keys, config));
  return config;
}

absl::StatusOr<ModelConfig> ReadGgufModelConfig(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<GgufModelFile> model, OpenGguf(env, path));
  return ModelConfigFromGguf(model->file());
}

}  // namespace gqa
