// SafetensorsFile: the strictly validated contents of one safetensors file
// (Hugging Face's format: a JSON header of tensor dtypes, shapes and byte
// ranges, then the raw data), parsed from a byte span by ParseSafetensors()
// or from a mapped file by OpenSafetensors(). Used by the Hugging Face
// checkpoint loader and its fuzz target. A SafetensorsFile is a view: tensor
// data points into the parsed bytes. Immutable; thread-compatible.
// Format and rejection list: docs/formats/safetensors.md.
#ifndef GQA_CORE_SAFETENSORS_SAFETENSORS_FILE_H_
#define GQA_CORE_SAFETENSORS_SAFETENSORS_FILE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/env.h"

namespace gqa {

// Reader limits beyond the spec's.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = uint64_t{100} << 20;  // 100 MiB
inline constexpr size_t kSafetensorsMaxRank = 8;
inline constexpr size_t kSafetensorsMaxNameBytes = 1024;

// Every dtype of the safetensors spec the reader can size. The engine computes
// with F32, F16 and BF16 only; loaders refuse the others (UNIMPLEMENTED).
enum class SafetensorsDtype : uint8_t {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
};

// "F32", "BF16", ... as spelled in the header.
absl::string_view SafetensorsDtypeName(SafetensorsDtype dtype);
// Bytes per element (1, 2, 4 or 8).
int64_t SafetensorsDtypeBytes(SafetensorsDtype dtype);
// nullopt for a name the spec does not define (matching is case-sensitive).
std::optional<SafetensorsDtype> SafetensorsDtypeFromName(absl::string_view name);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // outermost first (row-major, like numpy/torch); [] is a scalar
  int64_t num_elements = 0;
  uint64_t begin_bytes = 0;  // data_offsets, relative to the start of the data buffer
  uint64_t end_bytes = 0;
  absl::Span<const uint8_t> data;  // [end_bytes - begin_bytes], a view into the file's bytes
};

class SafetensorsFile {
 public:
  const std::string& display_name() const { return display_name_; }
  // The 8-byte length and the JSON header: bytes [0, data_offset()).
  absl::Span<const uint8_t> header_bytes() const { return header_bytes_; }
  uint64_t data_offset() const { return header_bytes_.size(); }
  // The data buffer: bytes [data_offset(), end of file).
  absl::Span<const uint8_t> data_buffer() const { return data_buffer_; }

  // Tensors in data order (ascending data_offsets).
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensor* FindTensor(absl::string_view name) const;
  // "__metadata__" pairs, sorted by key.
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

 private:
  friend class SafetensorsParser;
  SafetensorsFile() = default;

  std::string display_name_;
  absl::Span<const uint8_t> header_bytes_;
  absl::Span<const uint8_t> data_buffer_;
  std::vector<SafetensorsTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

// Parses and validates a whole safetensors file. `display_name` (usually the
// path) starts every error message. Never reads outside `bytes` and allocates
// at most a small multiple of the header size. INVALID_ARGUMENT naming the
// file, the tensor and the problem for: a truncated file, a header length past
// the file or above kSafetensorsMaxHeaderBytes, a header that is not a JSON
// object, a duplicate key, an unknown dtype, a bad shape or data_offsets, a
// size that does not match the shape, data outside the buffer, overlapping
// tensors, or data bytes that belong to no tensor (holes, trailing bytes).
// The result views `bytes`: keep them alive while it is used.
absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::Span<const uint8_t> bytes,
                                                 absl::string_view display_name);

// A parsed safetensors file together with the mapping it views.
class SafetensorsModelFile {
 public:
  SafetensorsModelFile(std::unique_ptr<MappedFile> mapping, SafetensorsFile file)
      : mapping_(std::move(mapping)), file_(std::move(file)) {}
  SafetensorsModelFile(const SafetensorsModelFile&) = delete;
  SafetensorsModelFile& operator=(const SafetensorsModelFile&) = delete;

  const SafetensorsFile& file() const { return file_; }
  const std::string& path() const { return mapping_->path(); }

 private:
  std::unique_ptr<MappedFile> mapping_;
  SafetensorsFile file_;  // views mapping_'s bytes
};

// Maps `path` through `env` and parses it; `path` is the display name.
// Errors as ParseSafetensors and Env::MapFile (NOT_FOUND, ...).
absl::StatusOr<std::unique_ptr<SafetensorsModelFile>> OpenSafetensors(Env* env,
                                                                      const std::string& path);

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_SAFETENSORS_FILE_H_
