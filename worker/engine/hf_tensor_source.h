// A TensorSource over a Hugging Face checkpoint directory (config.json plus
// model.safetensors or the shards of model.safetensors.index.json) of a
// Llama or Mistral model: the shape from config.json, the tensors under the
// engine's GGUF-style names as views into the mapped files, and a
// fingerprint. HF checkpoints rotate Q/K halves (RopeLayout::kHalfSplit).
// Thread-compatible. Format and name mapping: docs/formats/safetensors.md.
#ifndef GQA_WORKER_ENGINE_HF_TENSOR_SOURCE_H_
#define GQA_WORKER_ENGINE_HF_TENSOR_SOURCE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/env.h"
#include "core/safetensors/safetensors_checkpoint.h"
#include "worker/engine/tensor_source.h"

namespace gqa {

// Opens and validates the checkpoint in directory `dir`. Every tensor the
// model needs must be present with the shape config.json implies; norms
// stored as F16/BF16 are converted to owned F32 copies (the engine reads
// norms as F32), other tensors stay views (copied only if misaligned for
// their element type). Errors name the file and key or tensor: NOT_FOUND for
// a missing config.json or weights file; INVALID_ARGUMENT for a malformed
// file, a missing tensor, a shape contradicting config.json or a layer
// beyond num_hidden_layers; UNIMPLEMENTED for a dtype other than F32, F16 and
// BF16 (naming tensor and dtype), a tensor the engine would ignore (e.g. a
// bias), or an unsupported config option.
absl::StatusOr<std::unique_ptr<TensorSource>> OpenHfTensorSource(Env* env, const std::string& dir);

// The engine's name for Hugging Face tensor `hf_name` ("model.layers.3.mlp.up_proj.weight"
// -> "blk.3.ffn_up.weight"); nullopt for a name outside the mapping.
std::optional<std::string> EngineTensorName(absl::string_view hf_name);

// SHA-256 (hex) of config.json's bytes and, per file in shard-name order, its
// header bytes, data size and first and last MiB of data: changes with any
// config, name, dtype, shape or layout change; milliseconds on large files.
std::string HfFingerprint(absl::string_view config_json, const SafetensorsCheckpoint& checkpoint);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_HF_TENSOR_SOURCE_H_
