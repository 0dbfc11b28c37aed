// ModelFile: what a model file says without its weights being read: the
// shape, the fingerprint, the tokenizer, the chat template and the model's
// name. The router tokenizes with it and checks workers against it; the
// worker and the `gqa` tools build their engines from its tensor source.
// A GGUF file or a Hugging Face directory (config.json, *.safetensors,
// tokenizer.json). Thread-compatible.
#ifndef GQA_WORKER_ENGINE_MODEL_FILE_H_
#define GQA_WORKER_ENGINE_MODEL_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "worker/engine/tensor_source.h"

namespace gqa {

struct ModelFile {
  // The file name without its directory and its ".gguf" extension, e.g.
  // "SmolLM2-135M-Instruct.Q4_1": the name the API lists the model under.
  std::string name;
  // Mapped, not read: weights are paged in only when an engine uses them.
  std::unique_ptr<TensorSource> source;
  std::unique_ptr<Tokenizer> tokenizer;
  // The reason when the file's chat template is not recognised.
  absl::StatusOr<ChatTemplate> chat_template = absl::UnknownError("not loaded");

  const ModelConfig& config() const { return source->config(); }
  const std::string& fingerprint() const { return source->fingerprint(); }
};

// Opens `path` (a directory with config.json is a Hugging Face checkpoint,
// anything else GGUF). Errors name the path: NOT_FOUND, INVALID_ARGUMENT for
// a malformed file, UNIMPLEMENTED for an unsupported tensor type or tokenizer.
absl::StatusOr<ModelFile> OpenModelFile(Env* env, const std::string& path);

// "dir/SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct.Q4_1";
// "dir/Llama-3.2-1B/" -> "Llama-3.2-1B".
std::string ModelNameFromPath(const std::string& path);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_MODEL_FILE_H_
