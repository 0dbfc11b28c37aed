// ModelConfig from a Hugging Face config.json (LlamaForCausalLM and
// MistralForCausalLM; model_type "llama" or "mistral"), for safetensors
// checkpoints. Strict: required keys, JSON types and ranges are checked, and
// options that would change the computation without the engine supporting
// them are refused. Pure function; thread-safe. Key list:
// docs/formats/safetensors.md.
#ifndef GQA_CORE_SAFETENSORS_HF_MODEL_CONFIG_H_
#define GQA_CORE_SAFETENSORS_HF_MODEL_CONFIG_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model_config.h"

namespace gqa {

// Parses the text of a config.json; `display` (its path) starts every error.
// INVALID_ARGUMENT naming the key for invalid JSON, a duplicate key, a missing
// required key, a wrong JSON type, a value out of range or a shape that fails
// ModelConfig::Validate(); UNIMPLEMENTED naming the key and value for other
// model types or architectures, a hidden_act other than silu, attention or
// MLP biases, partial rotary embeddings and unsupported rope scaling types.
// NOTE: Mistral's sliding_window, when below max_position_embeddings, caps
// context_tokens: within the window sliding and full attention are equal.
absl::StatusOr<ModelConfig> ModelConfigFromHfJson(absl::string_view text,
                                                  absl::string_view display);

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_HF_MODEL_CONFIG_H_
