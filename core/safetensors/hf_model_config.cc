#include "core/safetensors/hf_model_config.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/json/strict_json.h"
#include "core/status.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxCount = (int64_t{1} << 31) - 1;  // keeps products of two in int64

// Typed reads of one JSON object's keys; every error names the file and the
// key (with `prefix`, e.g. "rope_scaling.factor"). A null value is absent.
class Keys {
 public:
  Keys(const Json& object, absl::string_view display, absl::string_view prefix)
      : object_(object), display_(display), prefix_(prefix) {}

  std::string Name(absl::string_view key) const { return absl::StrCat(prefix_, key); }
  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(display_, ": ", what));
  }
  absl::Status Unimplemented(absl::string_view what) const {
    return absl::UnimplementedError(absl::StrCat(display_, ": ", what));
  }

  // The value of `key`, or nullptr when it is absent or null.
  const Json* Find(absl::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  // An integer in [1, 2^31); `fallback` when absent (nullopt: required).
  absl::StatusOr<int64_t> Count(absl::string_view key,
                                std::optional<int64_t> fallback = std::nullopt) const {
    ASSIGN_OR_RETURN(const Json* value, Require(key, fallback.has_value()));
    if (value == nullptr) return *fallback;
    if (!value->is_number_integer()) return TypeError(key, "an integer", *value);
    // nlohmann parses non-negative integers as unsigned.
    if (!value->is_number_unsigned() || value->get<uint64_t>() < 1 ||
        value->get<uint64_t>() > static_cast<uint64_t>(kMaxCount)) {
      return Invalid(
          absl::StrCat("key '", Name(key), "': ", value->dump(), " is out of range [1, 2^31)"));
    }
    return static_cast<int64_t>(value->get<uint64_t>());
  }

  // A finite number (integer or not); `fallback` when absent.
  absl::StatusOr<double> Float(absl::string_view key,
                               std::optional<double> fallback = std::nullopt) const {
    ASSIGN_OR_RETURN(const Json* value, Require(key, fallback.has_value()));
    if (value == nullptr) return *fallback;
    if (!value->is_number()) return TypeError(key, "a number", *value);
    const double result = value->get<double>();
    if (!std::isfinite(result)) {
      return Invalid(absl::StrCat("key '", Name(key), "': ", result, " is not finite"));
    }
    return result;
  }

  absl::StatusOr<bool> Bool(absl::string_view key, bool fallback) const {
    ASSIGN_OR_RETURN(const Json* value, Require(key, true));
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) return TypeError(key, "a boolean", *value);
    return value->get<bool>();
  }

  absl::StatusOr<std::string> String(absl::string_view key,
                                     std::optional<std::string> fallback = std::nullopt) const {
    ASSIGN_OR_RETURN(const Json* value, Require(key, fallback.has_value()));
    if (value == nullptr) return *fallback;
    if (!value->is_string()) return TypeError(key, "a string", *value);
    return value->get<std::string>();
  }

 private:
  absl::StatusOr<const Json*> Require(absl::string_view key, bool optional) const {
    const Json* value = Find(key);
    if (value == nullptr && !optional) {
      return Invalid(absl::StrCat("required key '", Name(key), "' is missing"));
    }
    return value;
  }
  absl::Status TypeError(absl::string_view key, absl::string_view expected,
                         const Json& value) const {
    return Invalid(absl::StrCat("key '", Name(key), "' must be ", expected, ", is a JSON ",
                                JsonTypeName(value)));
  }

  const Json& object_;
  absl::string_view display_;
  std::string prefix_;
};

absl::Status CheckArchitecture(const Keys& keys) {
  ASSIGN_OR_RETURN(const std::string model_type, keys.String("model_type"));
  if (model_type != "llama" && model_type != "mistral") {
    return keys.Unimplemented(
        absl::StrCat("key 'model_type': '", model_type, "' is not supported (llama, mistral)"));
  }
  const Json* architectures = keys.Find("architectures");
  if (architectures == nullptr) return absl::OkStatus();
  if (!architectures->is_array()) {
    return keys.Invalid(absl::StrCat("key 'architectures' must be an array of strings, is a JSON ",
                                     JsonTypeName(*architectures)));
  }
  std::vector<std::string> names;
  for (const Json& name : *architectures) {
    if (!name.is_string()) {
      return keys.Invalid("key 'architectures' must be an array of strings");
    }
    const std::string& text = name.get_ref<const std::string&>();
    if (text == "LlamaForCausalLM" || text == "MistralForCausalLM") return absl::OkStatus();
    names.push_back(text);
  }
  return keys.Unimplemented(absl::StrCat("key 'architectures': [", absl::StrJoin(names, ", "),
                                         "] is not supported (LlamaForCausalLM, "
                                         "MistralForCausalLM)"));
}

// Options that change the computation and that the engine does not implement.
absl::Status CheckUnsupported(const Keys& keys) {
  ASSIGN_OR_RETURN(const std::string act, keys.String("hidden_act", "silu"));
  if (act != "silu") {
    return keys.Unimplemented(
        absl::StrCat("key 'hidden_act': '", act, "' is not supported (silu)"));
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    ASSIGN_OR_RETURN(const bool bias, keys.Bool(key, false));
    if (bias) return keys.Unimplemented(absl::StrCat("key '", key, "': biases are not supported"));
  }
  ASSIGN_OR_RETURN(const double rotary, keys.Float("partial_rotary_factor", 1.0));
  if (rotary != 1.0) {
    return keys.Unimplemented(absl::StrCat("key 'partial_rotary_factor': ", rotary,
                                           " (partial rotary embeddings) is not supported"));
  }
  return absl::OkStatus();
}

absl::Status ReadRopeScaling(const Keys& root, absl::string_view display, ModelConfig* config) {
  const Json* object = root.Find("rope_scaling");
  if (object == nullptr) return absl::OkStatus();
  if (!object->is_object()) {
    return root.Invalid(absl::StrCat("key 'rope_scaling' must be an object or null, is a JSON ",
                                     JsonTypeName(*object)));
  }
  const Keys keys(*object, display, "rope_scaling.");
  ASSIGN_OR_RETURN(const std::string type, keys.String("type", ""));
  ASSIGN_OR_RETURN(const std::string rope_type, keys.String("rope_type", ""));
  if (!type.empty() && !rope_type.empty() && type != rope_type) {
    return keys.Invalid(absl::StrCat("keys 'rope_scaling.type' ('", type,
                                     "') and 'rope_scaling.rope_type' ('", rope_type,
                                     "') disagree"));
  }
  const std::string name = rope_type.empty() ? type : rope_type;
  RopeScaling& scaling = config->rope_scaling;
  if (name.empty()) {
    return keys.Invalid(
        "required key 'rope_scaling.rope_type' (or 'rope_scaling.type') is missing");
  } else if (name == "default") {
    return absl::OkStatus();
  } else if (name == "linear") {
    scaling.type = RopeScalingType::kLinear;
  } else if (name == "llama3") {
    scaling.type = RopeScalingType::kLlama3;
    ASSIGN_OR_RETURN(scaling.low_freq_factor, keys.Float("low_freq_factor"));
    ASSIGN_OR_RETURN(scaling.high_freq_factor, keys.Float("high_freq_factor"));
    if (!(scaling.low_freq_factor > 0 && scaling.high_freq_factor > scaling.low_freq_factor)) {
      return keys.Invalid(absl::StrCat("keys 'rope_scaling.low_freq_factor' (",
                                       scaling.low_freq_factor,
                                       ") and 'rope_scaling.high_freq_factor' (",
                                       scaling.high_freq_factor, ") must satisfy 0 < low < high"));
    }
  } else if (name == "yarn") {
    scaling.type = RopeScalingType::kYarn;
  } else {
    return keys.Unimplemented(absl::StrCat("key 'rope_scaling.rope_type': '", name,
                                           "' is not supported (default, linear, llama3, yarn)"));
  }
  ASSIGN_OR_RETURN(scaling.factor, keys.Float("factor"));
  // transformers falls back to max_position_embeddings for yarn.
  std::optional<int64_t> original;
  if (scaling.type == RopeScalingType::kYarn) original = config->context_tokens;
  if (scaling.type != RopeScalingType::kLinear) {
    ASSIGN_OR_RETURN(scaling.original_context_tokens,
                     keys.Count("original_max_position_embeddings", original));
  }
  return absl::OkStatus();
}

absl::Status ReadShape(const Keys& keys, ModelConfig* c) {
  ASSIGN_OR_RETURN(c->num_layers, keys.Count("num_hidden_layers"));
  ASSIGN_OR_RETURN(c->hidden_size, keys.Count("hidden_size"));
  ASSIGN_OR_RETURN(c->num_query_heads, keys.Count("num_attention_heads"));
  ASSIGN_OR_RETURN(c->num_kv_heads, keys.Count("num_key_value_heads", c->num_query_heads));
  if (keys.Find("head_dim") == nullptr && c->hidden_size % c->num_query_heads != 0) {
    return keys.Invalid(
        absl::StrCat("no key 'head_dim', and hidden_size=", c->hidden_size,
                     " is not a multiple of num_attention_heads=", c->num_query_heads));
  }
  ASSIGN_OR_RETURN(c->head_dim, keys.Count("head_dim", c->hidden_size / c->num_query_heads));
  if (c->head_dim % 2 != 0) {
    return keys.Invalid(absl::StrCat("head_dim=", c->head_dim, " must be even for RoPE"));
  }
  ASSIGN_OR_RETURN(c->intermediate_size, keys.Count("intermediate_size"));
  ASSIGN_OR_RETURN(c->vocab_size, keys.Count("vocab_size"));
  ASSIGN_OR_RETURN(c->context_tokens, keys.Count("max_position_embeddings"));
  ASSIGN_OR_RETURN(c->rope_theta, keys.Float("rope_theta", 10000.0));
  ASSIGN_OR_RETURN(c->norm_eps, keys.Float("rms_norm_eps"));
  ASSIGN_OR_RETURN(c->tied_embeddings, keys.Bool("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(const int64_t window, keys.Count("sliding_window", c->context_tokens));
  c->context_tokens = std::min(c->context_tokens, window);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromHfJson(absl::string_view text,
                                                  absl::string_view display) {
  ASSIGN_OR_RETURN(const Json root, ParseStrictJson(text, display));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(display, ": is a JSON ", JsonTypeName(root), ", not an object"));
  }
  const Keys keys(root, display, "");
  RETURN_IF_ERROR(CheckArchitecture(keys));
  ModelConfig config;
  ASSIGN_OR_RETURN(config.architecture, keys.String("model_type"));
  ASSIGN_OR_RETURN(config.name, keys.String("_name_or_path", ""));
  RETURN_IF_ERROR(ReadShape(keys, &config));
  RETURN_IF_ERROR(CheckUnsupported(keys));
  RETURN_IF_ERROR(ReadRopeScaling(keys, display, &config));
  RETURN_IF_ERROR(Annotate(config.Validate(), display));
  return config;
}

}  // namespace gqa
