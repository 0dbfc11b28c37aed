// GGUF -> GGUF conversion behind `gqa convert`: every tensor dequantized and
// re-stored as F32, F16 or BF16, all metadata copied (tokenizer and chat
// template included), and optionally the K/V heads mean-pooled to fewer KV
// heads (MHA/GQA -> GQA/MQA, kv_head_pooling.h). Pure functions over a parsed
// file; thread-safe.
#ifndef GQA_WORKER_ENGINE_CONVERT_GGUF_CONVERT_H_
#define GQA_WORKER_ENGINE_CONVERT_GGUF_CONVERT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/env.h"
#include "core/gguf/ggml_type.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"

namespace gqa {

struct ConvertOptions {
  // Element type of every tensor of two or more dimensions: F32, F16 or BF16;
  // default F16. One-dimensional tensors (norm weights, biases) stay F32, as
  // llama.cpp's converters keep them.
  GgmlType dtype = GgmlType::kF16;
  // When set, the K and V projections (blk.N.attn_{k,v}.{weight,bias}) are
  // mean-pooled to this many KV heads and {arch}.attention.head_count_kv is
  // rewritten. Must be >= 1 and divide the model's KV heads. Default: unset.
  std::optional<int64_t> kv_heads = std::nullopt;
};

struct ConvertSummary {
  int64_t num_tensors = 0;
  int64_t num_pooled_tensors = 0;  // K/V weights and biases that were pooled
  int64_t old_kv_heads = 0;        // 0 when kv_heads was not requested
  int64_t new_kv_heads = 0;
  int64_t output_bytes = 0;        // of the written file
};

// "f32", "f16", "bf16" -> F32, F16, BF16. INVALID_ARGUMENT naming --dtype otherwise.
absl::StatusOr<GgmlType> ParseConvertDType(absl::string_view text);

// llama.cpp's general.file_type (llama_ftype) for a file whose matrices are
// all `dtype`: F32 -> 0 (ALL_F32), F16 -> 1 (MOSTLY_F16), BF16 -> 32 (MOSTLY_BF16).
// REQUIRES: dtype is one of those three.
uint32_t LlamaFileType(GgmlType dtype);

// Adds the converted metadata and tensors of `in` to `out` (an empty writer
// whose alignment equals in.alignment()). Metadata keeps the input order;
// general.file_type and {arch}.attention.head_count_kv are replaced in place
// (as UINT32) or appended when absent. Errors: INVALID_ARGUMENT for a dtype
// other than F32/F16/BF16, a bad options.kv_heads (see CheckKvHeads) or a
// K/V bias of the wrong length; the errors of ModelConfigFromGguf when
// kv_heads is set and the file is not a valid Llama-family model;
// UNIMPLEMENTED naming the tensor and its type when a tensor is stored in a
// type that cannot be dequantized (anything but F32, F16, BF16, Q8_0, Q4_0,
// Q4_1).
absl::StatusOr<ConvertSummary> ConvertGguf(const GgufFile& in, const ConvertOptions& options,
                                           GgufWriter* out);

// Opens `in_path`, converts it and writes `out_path` atomically (the old file,
// if any, stays until the new one is complete). The result is parsed again
// before it is written, and when kv_heads is set it must pass
// ModelConfigFromGguf (INTERNAL otherwise: a bug here). Errors: those of
// OpenGguf (NOT_FOUND for a missing input, ...), ConvertGguf and
// Env::WriteFileAtomically (naming out_path).
//
// NOTE: the output is held in memory two to three times over (GgufWriter
// copies each converted tensor, and Write() assembles the whole file, growing
// one string, before Env writes it), plus the mapped input: SmolLM2-135M
// Q4_1 -> F32 (515 MiB) peaks at 1.5 GB resident. Streaming tensor by tensor
// needs an appendable file in Env; until then this suits small models only.
absl::StatusOr<ConvertSummary> ConvertGgufFile(Env* env, const std::string& in_path,
                                               const std::string& out_path,
                                               const ConvertOptions& options);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_CONVERT_GGUF_CONVERT_H_
