#include "core/gguf/gguf_value.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gqa {
namespace {

// Sign-extends the low `bytes` bytes of `bits`.
int64_t SignExtend(uint64_t bits, int64_t bytes) {
  const int shift = static_cast<int>(64 - 8 * bytes);
  return static_cast<int64_t>(bits << shift) >> shift;
}

bool IsSignedType(GgufValueType type) {
  return type == GgufValueType::kInt8 || type == GgufValueType::kInt16 ||
         type == GgufValueType::kInt32 || type == GgufValueType::kInt64;
}

double BitsToDouble(GgufValueType type, uint64_t bits) {
  if (type == GgufValueType::kFloat32) {
    const uint32_t narrow = static_cast<uint32_t>(bits);
    float value;
    std::memcpy(&value, &narrow, sizeof(value));
    return value;
  }
  double value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

absl::Status Mismatch(absl::string_view expected, const GgufValue& value) {
  std::string found(GgufValueTypeName(value.type()));
  if (value.type() == GgufValueType::kArray) {
    found = absl::StrCat("ARRAY of ", GgufValueTypeName(value.array_type()));
  }
  return absl::InvalidArgumentError(absl::StrCat("expected ", expected, ", found ", found));
}

// The integer held in `bits` of integer type `type`, as int64 (never fails)
// plus whether it is a uint64 too large for int64.
struct DecodedInt {
  int64_t value;
  bool above_int64_max;
};

DecodedInt DecodeInt(GgufValueType type, uint64_t bits) {
  if (IsSignedType(type)) return {SignExtend(bits, GgufScalarBytes(type)), false};
  const bool above = bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return {above ? 0 : static_cast<int64_t>(bits), above};
}

}  // namespace

bool IsValidGgufValueType(uint32_t type_id) { return type_id <= 12; }

absl::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "UINT8";
    case GgufValueType::kInt8:
      return "INT8";
    case GgufValueType::kUint16:
      return "UINT16";
    case GgufValueType::kInt16:
      return "INT16";
    case GgufValueType::kUint32:
      return "UINT32";
    case GgufValueType::kInt32:
      return "INT32";
    case GgufValueType::kFloat32:
      return "FLOAT32";
    case GgufValueType::kBool:
      return "BOOL";
    case GgufValueType::kString:
      return "STRING";
    case GgufValueType::kArray:
      return "ARRAY";
    case GgufValueType::kUint64:
      return "UINT64";
    case GgufValueType::kInt64:
      return "INT64";
    case GgufValueType::kFloat64:
      return "FLOAT64";
  }
  return "unknown";
}

int64_t GgufScalarBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsGgufIntegerType(GgufValueType type) {
  return type == GgufValueType::kUint8 || type == GgufValueType::kUint16 ||
         type == GgufValueType::kUint32 || type == GgufValueType::kUint64 || IsSignedType(type);
}

GgufValue GgufValue::Scalar(GgufValueType type, uint64_t bits) {
  GgufValue value;
  value.type_ = type;
  value.bits_ = bits;
  return value;
}

GgufValue GgufValue::String(absl::string_view string) {
  GgufValue value;
  value.type_ = GgufValueType::kString;
  value.string_ = string;
  return value;
}

GgufValue GgufValue::ScalarArray(GgufValueType element_type, uint64_t size,
                                 absl::Span<const uint8_t> packed) {
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = element_type;
  value.size_ = size;
  value.packed_ = packed;
  return value;
}

GgufValue GgufValue::StringArray(std::vector<absl::string_view> elements) {
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = GgufValueType::kString;
  value.size_ = elements.size();
  value.strings_ = std::move(elements);
  return value;
}

GgufValue GgufValue::ArrayArray(std::vector<GgufValue> elements) {
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = GgufValueType::kArray;
  value.size_ = elements.size();
  value.arrays_ = std::move(elements);
  return value;
}

absl::StatusOr<uint64_t> GgufValue::AsUint() const {
  if (!IsGgufIntegerType(type_)) return Mismatch("an unsigned integer", *this);
  if (!IsSignedType(type_)) return bits_;
  const int64_t value = SignExtend(bits_, GgufScalarBytes(type_));
  if (value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an unsigned integer, found ", GgufValueTypeName(type_), " ", value));
  }
  return static_cast<uint64_t>(value);
}

absl::StatusOr<int64_t> GgufValue::AsInt() const {
  if (!IsGgufIntegerType(type_)) return Mismatch("an integer", *this);
  const DecodedInt decoded = DecodeInt(type_, bits_);
  if (decoded.above_int64_max) {
    return absl::InvalidArgumentError(absl::StrCat("UINT64 ", bits_, " does not fit int64"));
  }
  return decoded.value;
}

absl::StatusOr<double> GgufValue::AsFloat() const {
  if (type_ != GgufValueType::kFloat32 && type_ != GgufValueType::kFloat64) {
    return Mismatch("FLOAT32 or FLOAT64", *this);
  }
  return BitsToDouble(type_, bits_);
}

absl::StatusOr<bool> GgufValue::AsBool() const {
  if (type_ != GgufValueType::kBool) return Mismatch("BOOL", *this);
  return bits_ != 0;
}

absl::StatusOr<absl::string_view> GgufValue::AsString() const {
  if (type_ != GgufValueType::kString) return Mismatch("STRING", *this);
  return string_;
}

absl::StatusOr<std::vector<absl::string_view>> GgufValue::AsStringArray() const {
  if (type_ != GgufValueType::kArray || element_type_ != GgufValueType::kString) {
    return Mismatch("ARRAY of STRING", *this);
  }
  return strings_;
}

uint64_t GgufValue::BitsAt(uint64_t index) const {
  const int64_t bytes = GgufScalarBytes(element_type_);
  uint64_t bits = 0;
  for (int64_t b = 0; b < bytes; ++b) {  // little-endian, independent of the host
    bits |= static_cast<uint64_t>(packed_[index * bytes + b]) << (8 * b);
  }
  return bits;
}

absl::StatusOr<int64_t> GgufValue::IntAt(uint64_t index) const {
  const DecodedInt decoded = DecodeInt(element_type_, BitsAt(index));
  if (decoded.above_int64_max) {
    return absl::InvalidArgumentError(
        absl::StrCat("element ", index, " (UINT64 ", BitsAt(index), ") does not fit int64"));
  }
  return decoded.value;
}

absl::StatusOr<std::vector<int64_t>> GgufValue::AsIntArray() const {
  if (type_ != GgufValueType::kArray || !IsGgufIntegerType(element_type_)) {
    return Mismatch("ARRAY of integers", *this);
  }
  std::vector<int64_t> values;
  values.reserve(size_);
  for (uint64_t i = 0; i < size_; ++i) {
    absl::StatusOr<int64_t> value = IntAt(i);
    if (!value.ok()) return value.status();
    values.push_back(*value);
  }
  return values;
}

absl::StatusOr<std::vector<float>> GgufValue::AsFloatArray() const {
  if (type_ != GgufValueType::kArray ||
      (element_type_ != GgufValueType::kFloat32 && element_type_ != GgufValueType::kFloat64)) {
    return Mismatch("ARRAY of FLOAT32 or FLOAT64", *this);
  }
  std::vector<float> values;
  values.reserve(size_);
  for (uint64_t i = 0; i < size_; ++i) {
    values.push_back(static_cast<float>(BitsToDouble(element_type_, BitsAt(i))));
  }
  return values;
}

std::string GgufValue::DebugString() const {
  switch (type_) {
    case GgufValueType::kString:
      return absl::StrCat("STRING \"", string_.substr(0, 64), string_.size() > 64 ? "...\"" : "\"");
    case GgufValueType::kArray:
      return absl::StrCat("ARRAY<", GgufValueTypeName(element_type_), ">[", size_, "]");
    case GgufValueType::kBool:
      return bits_ != 0 ? "BOOL true" : "BOOL false";
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return absl::StrFormat("%s %g", GgufValueTypeName(type_), BitsToDouble(type_, bits_));
    default: {
      const DecodedInt decoded = DecodeInt(type_, bits_);
      if (decoded.above_int64_max) return absl::StrCat("UINT64 ", bits_);
      return absl::StrCat(GgufValueTypeName(type_), " ", decoded.value);
    }
  }
}

}  // namespace gqa
