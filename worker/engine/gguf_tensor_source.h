// A TensorSource over a GGUF file: the model shape from its metadata, the
// tensors as views into the mapped file (no copy), and a fingerprint of the
// weights. GGUF llama checkpoints keep Q/K permuted for adjacent-pair RoPE.
// Thread-compatible.
#ifndef GQA_WORKER_ENGINE_GGUF_TENSOR_SOURCE_H_
#define GQA_WORKER_ENGINE_GGUF_TENSOR_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "worker/engine/tensor_source.h"

namespace gqa {

// Opens and validates `path`. Errors name the file: NOT_FOUND, INVALID_ARGUMENT
// for a malformed or self-contradicting file, UNIMPLEMENTED for a tensor type
// the engine cannot compute with (naming the tensor and type).
absl::StatusOr<std::unique_ptr<TensorSource>> OpenGgufTensorSource(Env* env,
                                                                   const std::string& path);

// SHA-256 (hex) of the header bytes, the data size and the first and last MiB
// of tensor data: changes with any metadata, layout or quantization change
// while costing milliseconds on large files.
std::string GgufFingerprint(const GgufFile& file, absl::Span<const uint8_t> bytes);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_GGUF_TENSOR_SOURCE_H_
