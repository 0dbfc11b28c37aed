// GgufValue: one typed GGUF metadata value (scalar, string or array) as the
// reader found it, with checked conversions to C++ types. Strings and packed
// scalar arrays are views into the parsed file's bytes and expire with them.
// Value type; thread-compatible (const methods are safe to share).
// Format reference: docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGUF_VALUE_H_
#define GQA_CORE_GGUF_GGUF_VALUE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

// Metadata value type ids as written in the file.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// True for ids 0..12.
bool IsValidGgufValueType(uint32_t type_id);
// "UINT8", ..., "FLOAT64"; "unknown" otherwise.
absl::string_view GgufValueTypeName(GgufValueType type);
// Bytes of one scalar of `type`: 1, 2, 4 or 8; 0 for STRING and ARRAY.
int64_t GgufScalarBytes(GgufValueType type);
bool IsGgufIntegerType(GgufValueType type);

class GgufValue {
 public:
  // REQUIRES: `type` is a scalar type; `bits` holds its little-endian payload
  // zero-extended to 64 bits (a float32 as its IEEE bits).
  static GgufValue Scalar(GgufValueType type, uint64_t bits);
  static GgufValue String(absl::string_view value);
  // REQUIRES: scalar `element_type`, packed.size() == size * its byte size.
  static GgufValue ScalarArray(GgufValueType element_type, uint64_t size,
                               absl::Span<const uint8_t> packed);
  static GgufValue StringArray(std::vector<absl::string_view> elements);
  static GgufValue ArrayArray(std::vector<GgufValue> elements);

  GgufValueType type() const { return type_; }
  // Arrays only (otherwise meaningless): element type and count.
  GgufValueType array_type() const { return element_type_; }
  uint64_t array_size() const { return size_; }

  // Checked conversions. On a type mismatch INVALID_ARGUMENT "expected <what>,
  // found <type>"; the caller prefixes the file and key.
  // Any integer type with a non-negative value.
  absl::StatusOr<uint64_t> AsUint() const;
  // Any integer type whose value fits int64.
  absl::StatusOr<int64_t> AsInt() const;
  // FLOAT32 or FLOAT64.
  absl::StatusOr<double> AsFloat() const;
  absl::StatusOr<bool> AsBool() const;
  // A view into the file's bytes.
  absl::StatusOr<absl::string_view> AsString() const;
  // ARRAY of STRING (views into the file's bytes).
  absl::StatusOr<std::vector<absl::string_view>> AsStringArray() const;
  // ARRAY of any integer type whose values fit int64.
  absl::StatusOr<std::vector<int64_t>> AsIntArray() const;
  // ARRAY of FLOAT32 or FLOAT64 (FLOAT64 narrowed to float).
  absl::StatusOr<std::vector<float>> AsFloatArray() const;
  // Elements of an ARRAY of ARRAY; empty otherwise.
  const std::vector<GgufValue>& nested_arrays() const { return arrays_; }

  // Raw payloads, for re-serializing (GgufWriter::AddValue): a scalar's
  // zero-extended little-endian bits; an ARRAY of scalars' packed elements;
  // an ARRAY of STRING's elements (empty for other types).
  uint64_t raw_bits() const { return bits_; }
  absl::Span<const uint8_t> packed_elements() const { return packed_; }
  const std::vector<absl::string_view>& string_elements() const { return strings_; }

  // Short human form: `UINT32 30`, `STRING "llama"`, `ARRAY<STRING>[49152]`.
  std::string DebugString() const;

 private:
  GgufValue() = default;
  absl::StatusOr<int64_t> IntAt(uint64_t index) const;  // REQUIRES: integer array
  uint64_t BitsAt(uint64_t index) const;                // REQUIRES: scalar array

  GgufValueType type_ = GgufValueType::kUint8;
  uint64_t bits_ = 0;                                   // scalars
  absl::string_view string_;                            // STRING
  GgufValueType element_type_ = GgufValueType::kUint8;  // ARRAY
  uint64_t size_ = 0;                                   // ARRAY element count
  absl::Span<const uint8_t> packed_;                    // ARRAY of scalars: [size_ * scalar bytes]
  std::vector<absl::string_view> strings_;              // ARRAY of STRING: [size_]
  std::vector<GgufValue> arrays_;                       // ARRAY of ARRAY: [size_]
};

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_VALUE_H_
