// GgufWriter: builds a GGUF file (version 3 by default) in memory from typed
// metadata and raw tensor bytes, with ggml's alignment and zero padding. Used
// by tests, the fuzz corpus generator, tiny-model generation and `gqa convert`.
// Thread-compatible: one writer per thread.
// Format reference: docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGUF_WRITER_H_
#define GQA_CORE_GGUF_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/env.h"
#include "core/gguf/ggml_type.h"
#include "core/gguf/gguf_value.h"

namespace gqa {

struct GgufWriterOptions {
  uint32_t version = 3;  // 2 or 3 (identical little-endian layouts)
  // Power of two; written as general.alignment (UINT32) when not 32. The only
  // way to set that key: Add*() of it fails, AddValue() of an equal one is a no-op.
  uint64_t alignment = 32;
};

class GgufWriter {
 public:
  explicit GgufWriter(GgufWriterOptions options = {});

  // Metadata, written in the order added. Mistakes (a duplicate, empty or
  // over-long key or string, a bad tensor) are reported by Write(); the first
  // one wins. Limits as the reader's (gguf_file.h).
  void AddUint8(absl::string_view key, uint8_t value);
  void AddInt8(absl::string_view key, int8_t value);
  void AddUint16(absl::string_view key, uint16_t value);
  void AddInt16(absl::string_view key, int16_t value);
  void AddUint32(absl::string_view key, uint32_t value);
  void AddInt32(absl::string_view key, int32_t value);
  void AddUint64(absl::string_view key, uint64_t value);
  void AddInt64(absl::string_view key, int64_t value);
  void AddFloat32(absl::string_view key, float value);
  void AddFloat64(absl::string_view key, double value);
  void AddBool(absl::string_view key, bool value);
  void AddString(absl::string_view key, absl::string_view value);
  void AddStringArray(absl::string_view key, absl::Span<const std::string> values);
  void AddInt32Array(absl::string_view key, absl::Span<const int32_t> values);
  void AddFloat32Array(absl::string_view key, absl::Span<const float> values);
  // Copies any parsed value, e.g. from GgufFile::metadata(), bit for bit.
  void AddValue(absl::string_view key, const GgufValue& value);

  // A tensor of `type` with `shape` in ggml order (shape[0] = ne0, innermost);
  // `data` must be exactly its ggml byte size and is copied.
  void AddTensor(absl::string_view name, GgmlType type, std::vector<int64_t> shape,
                 absl::string_view data);

  // The whole file. INVALID_ARGUMENT naming the first mistake made while
  // adding (duplicate key or tensor name, bad shape or data size, bad options).
  absl::StatusOr<std::string> Write() const;
  // Write() through env->WriteFileAtomically(path).
  absl::Status WriteToFile(Env* env, const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    std::string data;
  };
  // Appends the key and type id, or records an error and returns false.
  bool BeginKv(absl::string_view key, GgufValueType type);
  void AddScalar(absl::string_view key, GgufValueType type, uint64_t bits);
  void CheckStringSize(absl::string_view key, absl::string_view value);
  void Fail(std::string message);

  GgufWriterOptions options_;
  absl::Status status_;
  std::string kv_bytes_;  // serialized key/value pairs
  uint64_t kv_count_ = 0;
  absl::flat_hash_set<std::string> keys_;
  std::vector<Tensor> tensors_;
  absl::flat_hash_set<std::string> tensor_names_;
};

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_WRITER_H_
