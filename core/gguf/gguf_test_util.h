// Test-only helpers for GGUF: a tiny valid Llama file built with GgufWriter, a
// little-endian byte builder for hand-made (usually broken) files, and
// in-place patches of a written file's fields. Used by the gguf tests, the
// fuzz corpus generator and other modules' tests that need a model file.
// Pure functions and value types; thread-compatible.
#ifndef GQA_CORE_GGUF_GGUF_TEST_UTIL_H_
#define GQA_CORE_GGUF_GGUF_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/gguf/ggml_type.h"
#include "core/gguf/gguf_writer.h"

namespace gqa {

struct TinyLlamaOptions {
  std::string architecture = "llama";
  int64_t num_layers = 1;
  int64_t hidden_size = 8;
  int64_t num_query_heads = 2;
  int64_t num_kv_heads = 1;
  int64_t head_dim = 4;  // written as {arch}.rope.dimension_count
  int64_t intermediate_size = 8;
  int64_t vocab_size = 8;  // also the tokenizer.ggml.tokens length
  int64_t context_tokens = 64;
  GgmlType matrix_type = GgmlType::kF32;  // every 2-D weight; norms stay F32
  bool tied_embeddings = true;            // false adds output.weight
  bool write_tokens = true;               // tokenizer.ggml.tokens ["t0", "t1", ...]
};

// Adds the metadata and every tensor of a llama-layout model to `writer`.
// Tensor bytes are a deterministic pattern (not meaningful weights).
void AddTinyLlama(const TinyLlamaOptions& options, GgufWriter* writer);
// A whole file; CHECK-fails if the writer rejects the options.
std::string TinyLlamaGguf(const TinyLlamaOptions& options = {});

// Re-writes a valid GGUF file without some keys and tensors, then lets `add`
// append replacements (metadata order changes; tensor bytes are kept).
struct GgufEdit {
  std::vector<std::string> drop_keys = {};
  std::vector<std::string> drop_tensors = {};
  std::function<void(GgufWriter*)> add = nullptr;
};
// CHECK-fails when `file` does not parse or the writer rejects the result.
std::string EditGguf(const std::string& file, const GgufEdit& edit);

// `n` deterministic bytes seeded by `seed`.
std::string PatternBytes(size_t n, uint32_t seed);
// The ggml byte size of a tensor (REQUIRES: valid shape for `type`).
size_t GgmlBytes(GgmlType type, const std::vector<int64_t>& shape);

// Builds raw GGUF bytes field by field.
class GgufBytes {
 public:
  // Magic "GGUF", `version`, tensor_count, metadata_kv_count.
  GgufBytes& Header(uint64_t tensor_count, uint64_t kv_count, uint32_t version = 3);
  GgufBytes& U8(uint8_t v);
  GgufBytes& U32(uint32_t v);
  GgufBytes& U64(uint64_t v);
  GgufBytes& Str(absl::string_view s);  // uint64 length + bytes
  GgufBytes& Raw(absl::string_view s);
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Byte offset of the n_dims field of tensor `name`'s info in `file`
// (CHECK-fails when the length-prefixed name does not occur).
size_t TensorInfoOffset(const std::string& file, absl::string_view name);
// Offset of the first occurrence of the length-prefixed string `s`.
size_t StringOffset(const std::string& file, absl::string_view s);
void PatchU32(std::string* file, size_t offset, uint32_t value);
void PatchU64(std::string* file, size_t offset, uint64_t value);

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_TEST_UTIL_H_
