// SafetensorsWriter: builds a safetensors file in memory, for tests, the
// fuzz corpus and tiny-model generation. The header is written with the
// tensors in insertion order and padded with spaces to a multiple of 8 bytes
// (as Hugging Face's writer does), so the data buffer starts 8-aligned.
// Thread-compatible.
#ifndef GQA_CORE_SAFETENSORS_SAFETENSORS_WRITER_H_
#define GQA_CORE_SAFETENSORS_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/safetensors/safetensors_file.h"

namespace gqa {

class SafetensorsWriter {
 public:
  // Appends a tensor whose data follow the previous one's. INVALID_ARGUMENT
  // for an empty or repeated name, a negative dimension, or `data` whose size
  // is not the shape's element count times the dtype's size.
  absl::Status AddTensor(const std::string& name, SafetensorsDtype dtype,
                         const std::vector<int64_t>& shape, absl::string_view data);
  // Adds a "__metadata__" entry.
  void AddMetadata(const std::string& key, const std::string& value);
  // The whole file.
  std::string Finish() const;

 private:
  struct Entry {
    std::string name;
    SafetensorsDtype dtype;
    std::vector<int64_t> shape;
    uint64_t begin_bytes, end_bytes;
  };
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::string data_;
};

// The 8-byte little-endian length of `header`, `header` and `data`, with no
// checks: for building broken files.
std::string SafetensorsBytes(absl::string_view header, absl::string_view data);

// `values` as the bytes of an F32, F16 or BF16 tensor (round to nearest
// even). REQUIRES: dtype is one of those three.
std::string EncodeFloats(absl::Span<const float> values, SafetensorsDtype dtype);

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_SAFETENSORS_WRITER_H_
