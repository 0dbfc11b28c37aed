// ModelConfigFromGguf(): the Llama-family model shape (ModelConfig) read from
// a GGUF file's `{arch}.*` metadata and cross-checked against its tensor
// shapes. Used by the model loader and by the planner (ReadGgufModelConfig).
// Pure functions; thread-safe. Keys and checks: docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGUF_MODEL_CONFIG_H_
#define GQA_CORE_GGUF_GGUF_MODEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/model_config.h"

namespace gqa {

// The validated shape of the model in `file`. Architectures: "llama" (also
// what llama.cpp writes for Mistral, SmolLM, TinyLlama) and "mistral" (same
// key layout). INVALID_ARGUMENT, naming the file and key or tensor, when a
// required key is missing or has the wrong type, a value is out of range, a
// tensor's shape contradicts the metadata ("self-contradicting file"), or
// ModelConfig::Validate() fails; UNIMPLEMENTED for another architecture,
// mixture-of-experts, partial rotary embeddings, per-dimension RoPE factors
// (rope_freqs.weight) or an unknown rope scaling type.
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file);

// OpenGguf(env, path) then ModelConfigFromGguf(); errors from both.
absl::StatusOr<ModelConfig> ReadGgufModelConfig(Env* env, const std::string& path);

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_MODEL_CONFIG_H_
