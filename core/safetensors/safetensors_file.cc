#include "core/safetensors/safetensors_file.h"

#include <algorithm>
#include <array>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/json/strict_json.h"
#include "core/status.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

struct DtypeInfo {
  SafetensorsDtype dtype;
  absl::string_view name;
  int64_t bytes;
};

constexpr std::array<DtypeInfo, 15> kDtypes = {{
    {SafetensorsDtype::kBool, "BOOL", 1},
    {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
    {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},
    {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},
    {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},
    {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},
    {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},
}};

const DtypeInfo& Info(SafetensorsDtype dtype) { return kDtypes[static_cast<size_t>(dtype)]; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::string_view SafetensorsDtypeName(SafetensorsDtype dtype) { return Info(dtype).name; }
int64_t SafetensorsDtypeBytes(SafetensorsDtype dtype) { return Info(dtype).bytes; }

std::optional<SafetensorsDtype> SafetensorsDtypeFromName(absl::string_view name) {
  for (const DtypeInfo& info : kDtypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

const SafetensorsTensor* SafetensorsFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// Turns the parsed header into a SafetensorsFile; every error names the file.
class SafetensorsParser {
 public:
  SafetensorsParser(absl::Span<const uint8_t> bytes, absl::string_view display)
      : bytes_(bytes), display_(display) {}

  absl::StatusOr<SafetensorsFile> Parse() {
    if (bytes_.size() < 8) {
      return Invalid(
          absl::StrCat("file is ", bytes_.size(), " bytes, shorter than the 8-byte header length"));
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes_[i];
    if (header_len > kSafetensorsMaxHeaderBytes) {
      return Invalid(absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                  kSafetensorsMaxHeaderBytes, " bytes (100 MiB)"));
    }
    if (header_len > bytes_.size() - 8) {
      return Invalid(absl::StrCat("header length ", header_len, " runs past the end of the file (",
                                  bytes_.size(), " bytes)"));
    }
    file_.display_name_ = std::string(display_);
    file_.header_bytes_ = bytes_.subspan(0, 8 + header_len);
    data_ = bytes_.subspan(8 + header_len);
    file_.data_buffer_ = data_;
    const absl::string_view text(reinterpret_cast<const char*>(bytes_.data()) + 8, header_len);
    if (text.empty() || text.front() != '{') {
      return Invalid("header does not start with '{' (the spec requires a JSON object)");
    }
    ASSIGN_OR_RETURN(const Json header, ParseStrictJson(text, absl::StrCat(display_, ": header")));
    if (!header.is_object()) {
      return Invalid(absl::StrCat("header is a JSON ", JsonTypeName(header), ", not an object"));
    }
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        RETURN_IF_ERROR(ParseMetadata(value));
      } else {
        RETURN_IF_ERROR(ParseTensor(key, value));
      }
    }
    RETURN_IF_ERROR(CheckCoverage());
    for (size_t i = 0; i < file_.tensors_.size(); ++i) {
      file_.tensor_index_.emplace(file_.tensors_[i].name, i);
    }
    return std::move(file_);
  }

 private:
  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(display_, ": ", what));
  }
  absl::Status TensorError(absl::string_view name, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(display_, ": tensor '", name, "': ", what));
  }

  absl::Status ParseMetadata(const Json& value) {
    if (!value.is_object()) {
      return Invalid(absl::StrCat("'__metadata__' is a JSON ", JsonTypeName(value),
                                  ", not an object of strings"));
    }
    for (const auto& [key, entry] : value.items()) {
      if (!entry.is_string()) {
        return Invalid(absl::StrCat("'__metadata__' value of '", key, "' is a JSON ",
                                    JsonTypeName(entry), ", not a string"));
      }
      file_.metadata_.emplace_back(key, entry.get<std::string>());
    }
    return absl::OkStatus();
  }

  // A non-negative JSON integer, or an error naming `what`.
  absl::StatusOr<uint64_t> Unsigned(absl::string_view name, absl::string_view what,
                                    const Json& value) const {
    if (value.is_number_unsigned()) return value.get<uint64_t>();
    if (value.is_number_integer()) {
      return TensorError(name, absl::StrCat(what, " is negative (", value.get<int64_t>(), ")"));
    }
    return TensorError(name, absl::StrCat(what, " is a JSON ", JsonTypeName(value),
                                          ", not a non-negative integer"));
  }

  absl::Status ParseTensor(const std::string& name, const Json& entry) {
    if (name.empty() || name.size() > kSafetensorsMaxNameBytes) {
      return Invalid(absl::StrCat("tensor name of ", name.size(), " bytes (must be 1..",
                                  kSafetensorsMaxNameBytes, ")"));
    }
    if (!entry.is_object()) {
      return TensorError(name,
                         absl::StrCat("entry is a JSON ", JsonTypeName(entry), ", not an object"));
    }
    for (const auto& [key, unused] : entry.items()) {
      if (key != "dtype" && key != "shape" && key != "data_offsets") {
        return TensorError(
            name, absl::StrCat("unknown key '", key, "' (expected dtype, shape, data_offsets)"));
      }
    }
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
      if (!entry.contains(key)) return TensorError(name, absl::StrCat("missing '", key, "'"));
    }
    SafetensorsTensor tensor;
    tensor.name = name;
    const Json& dtype = entry["dtype"];
    if (!dtype.is_string()) {
      return TensorError(name,
                         absl::StrCat("dtype is a JSON ", JsonTypeName(dtype), ", not a string"));
    }
    const std::optional<SafetensorsDtype> parsed =
        SafetensorsDtypeFromName(dtype.get<std::string>());
    if (!parsed) {
      return TensorError(name, absl::StrCat("unknown dtype '", dtype.get<std::string>(), "'"));
    }
    tensor.dtype = *parsed;
    RETURN_IF_ERROR(ParseShape(entry["shape"], tensor));
    RETURN_IF_ERROR(ParseOffsets(entry["data_offsets"], tensor));
    file_.tensors_.push_back(std::move(tensor));
    return absl::OkStatus();
  }

  absl::Status ParseShape(const Json& shape, SafetensorsTensor& tensor) const {
    if (!shape.is_array()) {
      return TensorError(tensor.name,
                         absl::StrCat("shape is a JSON ", JsonTypeName(shape), ", not an array"));
    }
    if (shape.size() > kSafetensorsMaxRank) {
      return TensorError(tensor.name,
                         absl::StrCat("shape has ", shape.size(), " dimensions (at most ",
                                      kSafetensorsMaxRank, ")"));
    }
    uint64_t elements = 1;
    bool overflow = false;
    for (const Json& dim : shape) {
      ASSIGN_OR_RETURN(const uint64_t d, Unsigned(tensor.name, "a shape dimension", dim));
      // Dimensions stay within int64 so that shapes are representable.
      overflow |= d > static_cast<uint64_t>(INT64_MAX);
      overflow |= __builtin_mul_overflow(elements, d, &elements);
      tensor.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(d, INT64_MAX)));
    }
    uint64_t size_bytes = 0;
    overflow |= __builtin_mul_overflow(elements, static_cast<uint64_t>(Info(tensor.dtype).bytes),
                                       &size_bytes);
    if (overflow || size_bytes > static_cast<uint64_t>(INT64_MAX)) {
      return TensorError(tensor.name, absl::StrCat("shape ", ShapeString(tensor.shape), " of ",
                                                   SafetensorsDtypeName(tensor.dtype),
                                                   " overflows a 64-bit byte size"));
    }
    tensor.num_elements = static_cast<int64_t>(elements);
    return absl::OkStatus();
  }

  absl::Status ParseOffsets(const Json& offsets, SafetensorsTensor& tensor) const {
    if (!offsets.is_array()) {
      return TensorError(tensor.name, absl::StrCat("data_offsets is a JSON ", JsonTypeName(offsets),
                                                   ", not an array [begin, end]"));
    }
    if (offsets.size() != 2) {
      return TensorError(tensor.name, absl::StrCat("data_offsets has ", offsets.size(),
                                                   " elements, not 2 [begin, end]"));
    }
    ASSIGN_OR_RETURN(tensor.begin_bytes, Unsigned(tensor.name, "data_offsets[0]", offsets[0]));
    ASSIGN_OR_RETURN(tensor.end_bytes, Unsigned(tensor.name, "data_offsets[1]", offsets[1]));
    if (tensor.begin_bytes > tensor.end_bytes) {
      return TensorError(tensor.name, absl::StrCat("data_offsets [", tensor.begin_bytes, ", ",
                                                   tensor.end_bytes, "] have begin > end"));
    }
    const uint64_t expected =
        static_cast<uint64_t>(tensor.num_elements) * Info(tensor.dtype).bytes;  // checked above
    if (tensor.end_bytes - tensor.begin_bytes != expected) {
      return TensorError(tensor.name,
                         absl::StrCat("data_offsets [", tensor.begin_bytes, ", ", tensor.end_bytes,
                                      "] hold ", tensor.end_bytes - tensor.begin_bytes,
                                      " bytes but shape ", ShapeString(tensor.shape), " of ",
                                      SafetensorsDtypeName(tensor.dtype), " needs ", expected));
    }
    if (tensor.end_bytes > data_.size()) {
      return TensorError(
          tensor.name,
          absl::StrCat("data_offsets [", tensor.begin_bytes, ", ", tensor.end_bytes,
                       "] run past the end of the data buffer (", data_.size(), " bytes)"));
    }
    tensor.data = data_.subspan(tensor.begin_bytes, tensor.end_bytes - tensor.begin_bytes);
    return absl::OkStatus();
  }

  // NOTE: like the reference implementation (safetensors' Rust crate), the
  // tensors must tile the data buffer exactly: no overlaps, no holes, no
  // trailing bytes. A hole could hide data no loader checks.
  absl::Status CheckCoverage() {
    std::vector<SafetensorsTensor>& tensors = file_.tensors_;
    std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
      return std::tie(a.begin_bytes, a.end_bytes, a.name) <
             std::tie(b.begin_bytes, b.end_bytes, b.name);
    });
    uint64_t cursor = 0;
    const SafetensorsTensor* previous = nullptr;
    for (const SafetensorsTensor& t : tensors) {
      if (t.begin_bytes < cursor) {
        return TensorError(
            t.name, absl::StrCat("data_offsets [", t.begin_bytes, ", ", t.end_bytes,
                                 "] overlap tensor '", previous->name, "' [", previous->begin_bytes,
                                 ", ", previous->end_bytes, "]"));
      }
      if (t.begin_bytes > cursor) {
        return TensorError(t.name, absl::StrCat("hole: data bytes [", cursor, ", ", t.begin_bytes,
                                                ") before it belong to no tensor"));
      }
      cursor = t.end_bytes;
      previous = &t;
    }
    if (cursor != data_.size()) {
      return Invalid(absl::StrCat("hole: data bytes [", cursor, ", ", data_.size(),
                                  ") after the last tensor belong to no tensor"));
    }
    return absl::OkStatus();
  }

  absl::Span<const uint8_t> bytes_;
  absl::string_view display_;
  absl::Span<const uint8_t> data_;
  SafetensorsFile file_;
};

absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::Span<const uint8_t> bytes,
                                                 absl::string_view display_name) {
  return SafetensorsParser(bytes, display_name).Parse();
}

absl::StatusOr<std::unique_ptr<SafetensorsModelFile>> OpenSafetensors(Env* env,
                                                                      const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, env->MapFile(path));
  ASSIGN_OR_RETURN(SafetensorsFile file, ParseSafetensors(mapping->bytes(), path));
  return std::make_unique<SafetensorsModelFile>(std::move(mapping), std::move(file));
}

}  // namespace gqa
