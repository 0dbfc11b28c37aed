// GgufFile: the strictly validated contents of a GGUF model file (metadata
// and tensor infos), parsed from a byte span by ParseGguf() or from a mapped
// file by OpenGguf(). Used by the model loader, the planner and `gqa inspect`.
// A GgufFile is a view: strings and tensor data point into the parsed bytes.
// Immutable after parsing; thread-compatible. Format: docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGUF_FILE_H_
#define GQA_CORE_GGUF_GGUF_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/env.h"
#include "core/gguf/ggml_type.h"
#include "core/gguf/gguf_value.h"

namespace gqa {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian uint32
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr absl::string_view kGgufAlignmentKey = "general.alignment";
// Reader limits (the writer refuses to exceed them too).
inline constexpr uint64_t kGgufMaxKeyBytes = 65535;  // the spec's limit
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t{64} << 20;
inline constexpr uint64_t kGgufMaxTensorNameBytes = 255;  // ggml itself holds 63

struct GgufKv {
  absl::string_view key;  // view into the file's bytes
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] = ne0, the contiguous (innermost) dim
  GgmlType type = GgmlType::kF32;
  uint64_t offset_bytes = 0;  // from the start of the data section
  uint64_t size_bytes = 0;
  int64_t num_elements = 0;
  absl::Span<const uint8_t> data;  // [size_bytes], a view into the file's bytes
};

class GgufFile {
 public:
  const std::string& display_name() const { return display_name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Byte offset of the tensor data section in the file.
  uint64_t data_offset() const { return data_offset_; }

  // Every key/value pair, in file order.
  const std::vector<GgufKv>& metadata() const { return metadata_; }
  // nullptr when `key` is absent.
  const GgufValue* FindValue(absl::string_view key) const;
  bool HasKey(absl::string_view key) const { return FindValue(key) != nullptr; }

  // Typed getters (conversion rules in gguf_value.h). NOT_FOUND naming the
  // file and key when absent; INVALID_ARGUMENT naming the file, key and the
  // expected and actual types on a mismatch. Strings are views into the file.
  absl::StatusOr<absl::string_view> GetString(absl::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<double> GetFloat(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;
  absl::StatusOr<std::vector<absl::string_view>> GetStringArray(absl::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(absl::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(absl::string_view key) const;
  // Element count of an ARRAY value of any element type.
  absl::StatusOr<uint64_t> GetArrayLength(absl::string_view key) const;

  // Tensor infos in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensorInfo* FindTensor(absl::string_view name) const;
  // NOT_FOUND naming the file and tensor when absent.
  absl::StatusOr<const GgufTensorInfo*> GetTensor(absl::string_view name) const;

 private:
  friend class GgufParser;
  GgufFile() = default;
  absl::StatusOr<const GgufValue*> Lookup(absl::string_view key) const;
  absl::Status KeyError(absl::string_view key, const absl::Status& status) const;

  std::string display_name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> metadata_;
  absl::flat_hash_map<absl::string_view, size_t> key_index_;  // keys view the file's bytes
  std::vector<GgufTensorInfo> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

// Parses and validates a whole GGUF file (versions 2 and 3, little-endian).
// `display_name` (usually the file name) starts every error message. Never
// reads outside `bytes`, and allocates at most a small multiple of its size.
// INVALID_ARGUMENT for a malformed file (truncated, bad magic, impossible
// counts, bad types, duplicates, misaligned, overlapping or out-of-file
// tensor data); UNIMPLEMENTED for an unsupported version or ggml type id.
// The result views `bytes`: keep them alive while it is used.
absl::StatusOr<GgufFile> ParseGguf(absl::Span<const uint8_t> bytes, absl::string_view display_name);

// A parsed GGUF file together with the mapping it views.
class GgufModelFile {
 public:
  GgufModelFile(std::unique_ptr<MappedFile> mapping, GgufFile file)
      : mapping_(std::move(mapping)), file_(std::move(file)) {}
  GgufModelFile(const GgufModelFile&) = delete;
  GgufModelFile& operator=(const GgufModelFile&) = delete;

  const GgufFile& file() const { return file_; }
  const std::string& path() const { return mapping_->path(); }

 private:
  std::unique_ptr<MappedFile> mapping_;
  GgufFile file_;  // views mapping_'s bytes
};

// Maps `path` through `env` and parses it; `path` is the display name in
// error messages. Errors as ParseGguf and Env::MapFile (NOT_FOUND, ...).
absl::StatusOr<std::unique_ptr<GgufModelFile>> OpenGguf(Env* env, const std::string& path);

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_FILE_H_
