// ParseGguf(): the strict GGUF reader. Every read is bounds-checked against
// the span, and every count is checked against the bytes left before anything
// is reserved, so malformed input costs at most a small multiple of its size.
// Layout and the list of rejections: docs/formats/gguf.md.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/gguf/gguf_file.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;  // magic, version, tensor_count, kv_count
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 2;  // an array may hold arrays of non-arrays
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
// Smallest possible encodings, used to bound counts before allocating.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, type, a UINT8
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, one dim
constexpr uint64_t kMinNestedArrayBytes = 4 + 8;             // element type and count

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t min_code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, min_code = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min_code = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min_code = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    uint32_t code = c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cont = static_cast<unsigned char>(s[i + k]);
      if ((cont & 0xC0) != 0x80) return false;
      code = (code << 6) | (cont & 0x3F);
    }
    if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string Quote(absl::string_view s) {
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, 128)), s.size() > 128 ? "...'" : "'");
}

}  // namespace

// Friend of GgufFile: fills it field by field while reading.
class GgufParser {
 public:
  GgufParser(absl::Span<const uint8_t> bytes, absl::string_view display_name) : bytes_(bytes) {
    file_.display_name_ = std::string(display_name);
  }

  absl::StatusOr<GgufFile> Parse() {
    uint64_t tensor_count = 0;
    uint64_t kv_count = 0;
    RETURN_IF_ERROR(ReadHeader(&tensor_count, &kv_count));
    file_.metadata_.reserve(kv_count);
    for (uint64_t i = 0; i < kv_count; ++i) RETURN_IF_ERROR(ReadKv(i));
    RETURN_IF_ERROR(CheckCount(tensor_count, kMinTensorInfoBytes, "tensor_count", "tensor info"));
    RETURN_IF_ERROR(ResolveAlignment());
    file_.tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) RETURN_IF_ERROR(ReadTensorInfo(i));
    RETURN_IF_ERROR(PlaceTensors());
    return std::move(file_);
  }

 private:
  uint64_t remaining() const { return bytes_.size() - pos_; }

  absl::Status Error(std::string what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_.display_name_, ": ", what));
  }
  absl::Status Unimplemented(std::string what) const {
    return absl::UnimplementedError(absl::StrCat(file_.display_name_, ": ", what));
  }

  absl::Status Need(uint64_t n, absl::string_view what) const {
    if (n <= remaining()) return absl::OkStatus();
    return Error(absl::StrCat("truncated: ", what, " at byte ", pos_, " needs ", n,
                              " bytes but only ", remaining(), " remain (file is ", bytes_.size(),
                              " bytes)"));
  }

  // REQUIRES: Need(n) succeeded. Little-endian, independent of the host.
  uint64_t TakeLe(int n) {
    uint64_t v = 0;
    for (int b = 0; b < n; ++b) v |= static_cast<uint64_t>(bytes_[pos_ + b]) << (8 * b);
    pos_ += n;
    return v;
  }
  absl::StatusOr<uint32_t> ReadU32(absl::string_view what) {
    RETURN_IF_ERROR(Need(4, what));
    return static_cast<uint32_t>(TakeLe(4));
  }
  absl::StatusOr<uint64_t> ReadU64(absl::string_view what) {
    RETURN_IF_ERROR(Need(8, what));
    return TakeLe(8);
  }

  // A uint64 length then that many bytes, at most `max_bytes`.
  absl::StatusOr<absl::string_view> ReadString(uint64_t max_bytes, absl::string_view what) {
    const uint64_t start = pos_;
    ASSIGN_OR_RETURN(uint64_t length, ReadU64(absl::StrCat(what, " length")));
    if (length > max_bytes) {
      return Error(absl::StrCat(what, " at byte ", start, ": length ", length,
                                " exceeds the limit of ", max_bytes, " bytes"));
    }
    RETURN_IF_ERROR(Need(length, what));
    absl::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return s;
  }

  absl::Status CheckCount(uint64_t count, uint64_t min_bytes, absl::string_view field,
                          absl::string_view item) const {
    if (count <= remaining() / min_bytes) return absl::OkStatus();
    return Error(absl::StrCat(field, " ", count, " cannot fit in the ", remaining(),
                              " bytes left at byte ", pos_, " (each ", item, " takes at least ",
                              min_bytes, " bytes)"));
  }

  absl::Status ReadHeader(uint64_t* tensor_count, uint64_t* kv_count) {
    if (bytes_.size() < kHeaderBytes) {
      return Error(absl::StrCat("truncated header: file is ", bytes_.size(),
                                " bytes, a GGUF header takes ", kHeaderBytes));
    }
    const uint32_t magic = static_cast<uint32_t>(TakeLe(4));
    if (magic != kGgufMagic) {
      return Error(absl::StrFormat(
          "bad magic 0x%08x ('%s'): not a GGUF file (expected 'GGUF')", magic,
          absl::CHexEscape(absl::string_view(reinterpret_cast<const char*>(bytes_.data()), 4))));
    }
    const uint32_t version = static_cast<uint32_t>(TakeLe(4));
    if (version == 1) {
      return Unimplemented(
          "GGUF version 1 is not supported (supported: 2, 3); re-convert the model with a "
          "current llama.cpp");
    }
    if (version != 2 && version != 3) {
      const bool swapped = version == 0x02000000 || version == 0x03000000;
      return Unimplemented(absl::StrCat("GGUF version ", version,
                                        " is not supported (supported: 2, 3)",
                                        swapped ? "; this looks like a big-endian file, only "
                                                  "little-endian files are supported"
                                                : ""));
    }
    file_.version_ = version;
    *tensor_count = TakeLe(8);
    *kv_count = TakeLe(8);
    RETURN_IF_ERROR(CheckCount(*kv_count, kMinKvBytes, "metadata_kv_count", "key/value pair"));
    // Both sections must fit together.
    const uint64_t kv_bytes = *kv_count * kMinKvBytes;
    if (*tensor_count > (remaining() - kv_bytes) / kMinTensorInfoBytes) {
      return Error(absl::StrCat("tensor_count ", *tensor_count, " and metadata_kv_count ",
                                *kv_count, " cannot fit in the ", remaining(),
                                " bytes after the header (a tensor info takes at least ",
                                kMinTensorInfoBytes, " bytes, a key/value pair ", kMinKvBytes,
                                ")"));
    }
    return absl::OkStatus();
  }

  absl::Status ReadKv(uint64_t index) {
    const uint64_t start = pos_;
    ASSIGN_OR_RETURN(absl::string_view key,
                     ReadString(kGgufMaxKeyBytes, absl::StrCat("metadata key #", index)));
    if (key.empty())
      return Error(absl::StrCat("metadata key #", index, " at byte ", start, " is empty"));
    if (!IsValidUtf8(key)) {
      return Error(absl::StrCat("metadata key #", index, " at byte ", start, " (", Quote(key),
                                ") is not valid UTF-8"));
    }
    const std::string context = absl::StrCat("key '", key, "'");
    ASSIGN_OR_RETURN(GgufValue value, ReadTypedValue(context, 0));
    if (!file_.key_index_.emplace(key, file_.metadata_.size()).second) {
      return Error(absl::StrCat("duplicate metadata key '", key, "' at byte ", start));
    }
    file_.metadata_.push_back(GgufKv{key, std::move(value)});
    return absl::OkStatus();
  }

  // A uint32 value type, then the value.
  absl::StatusOr<GgufValue> ReadTypedValue(const std::string& context, int depth) {
    const uint64_t type_pos = pos_;
    ASSIGN_OR_RETURN(uint32_t type_id, ReadU32(absl::StrCat(context, ": value type")));
    if (!IsValidGgufValueType(type_id)) {
      return Error(absl::StrCat(context, ": invalid value type ", type_id, " at byte ", type_pos,
                                " (valid: 0..12)"));
    }
    return ReadValue(static_cast<GgufValueType>(type_id), context, depth);
  }

  absl::StatusOr<GgufValue> ReadValue(GgufValueType type, const std::string& context, int depth) {
    if (type == GgufValueType::kString) {
      ASSIGN_OR_RETURN(absl::string_view s, ReadString(kGgufMaxStringBytes, context));
      return GgufValue::String(s);
    }
    if (type == GgufValueType::kArray) return ReadArray(context, depth);
    const int n = static_cast<int>(GgufScalarBytes(type));
    const uint64_t value_pos = pos_;
    RETURN_IF_ERROR(Need(n, absl::StrCat(context, ": ", GgufValueTypeName(type), " value")));
    const uint64_t bits = TakeLe(n);
    if (type == GgufValueType::kBool && bits > 1) {
      return Error(
          absl::StrCat(context, ": BOOL value ", bits, " at byte ", value_pos, " is not 0 or 1"));
    }
    return GgufValue::Scalar(type, bits);
  }

  absl::StatusOr<GgufValue> ReadArray(const std::string& context, int depth) {
    const uint64_t start = pos_;
    ASSIGN_OR_RETURN(uint32_t elem_id, ReadU32(absl::StrCat(context, ": array element type")));
    if (!IsValidGgufValueType(elem_id)) {
      return Error(absl::StrCat(context, ": invalid array element type ", elem_id, " at byte ",
                                start, " (valid: 0..12)"));
    }
    const auto elem = static_cast<GgufValueType>(elem_id);
    if (elem == GgufValueType::kArray && depth + 1 >= kMaxArrayDepth) {
      return Error(absl::StrCat(context, ": arrays nested more than ", kMaxArrayDepth,
                                " deep at byte ", start));
    }
    ASSIGN_OR_RETURN(uint64_t count, ReadU64(absl::StrCat(context, ": array length")));
    const int64_t scalar_bytes = GgufScalarBytes(elem);
    const uint64_t min_elem = scalar_bytes > 0                 ? scalar_bytes
                              : elem == GgufValueType::kString ? 8
                                                               : kMinNestedArrayBytes;
    if (count > remaining() / min_elem) {
      return Error(absl::StrCat(context, ": array of ", count, " ", GgufValueTypeName(elem),
                                " at byte ", start, " cannot fit in the ", remaining(),
                                " bytes left (file is ", bytes_.size(), " bytes)"));
    }
    if (scalar_bytes > 0) {
      absl::Span<const uint8_t> packed = bytes_.subspan(pos_, count * scalar_bytes);
      if (elem == GgufValueType::kBool) {
        for (uint64_t i = 0; i < count; ++i) {
          if (packed[i] > 1) {
            return Error(absl::StrCat(context, ": BOOL element ", i, " (", packed[i], ") at byte ",
                                      pos_ + i, " is not 0 or 1"));
          }
        }
      }
      pos_ += packed.size();
      return GgufValue::ScalarArray(elem, count, packed);
    }
    if (elem == GgufValueType::kString) {
      std::vector<absl::string_view> strings;
      strings.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        ASSIGN_OR_RETURN(absl::string_view s,
                         ReadString(kGgufMaxStringBytes, absl::StrCat(context, "[", i, "]")));
        strings.push_back(s);
      }
      return GgufValue::StringArray(std::move(strings));
    }
    std::vector<GgufValue> arrays;
    arrays.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(GgufValue inner, ReadArray(absl::StrCat(context, "[", i, "]"), depth + 1));
      arrays.push_back(std::move(inner));
    }
    return GgufValue::ArrayArray(std::move(arrays));
  }

  absl::Status ResolveAlignment() {
    const GgufValue* value = file_.FindValue(kGgufAlignmentKey);
    if (value == nullptr) return absl::OkStatus();
    absl::StatusOr<uint64_t> alignment = value->AsUint();
    if (!alignment.ok()) {
      return Error(absl::StrCat("key 'general.alignment': ", alignment.status().message()));
    }
    if (*alignment == 0 || (*alignment & (*alignment - 1)) != 0 || *alignment > kMaxAlignment) {
      return Error(absl::StrCat("key 'general.alignment': ", *alignment,
                                " is not a power of two in [1, 2^30]"));
    }
    file_.alignment_ = *alignment;
    return absl::OkStatus();
  }

  absl::Status ReadTensorInfo(uint64_t index) {
    const uint64_t start = pos_;
    const std::string ordinal = absl::StrCat("tensor #", index);
    ASSIGN_OR_RETURN(absl::string_view name,
                     ReadString(kGgufMaxTensorNameBytes, absl::StrCat(ordinal, " name")));
    if (name.empty() || !IsValidUtf8(name)) {
      return Error(absl::StrCat(ordinal, " at byte ", start, ": name ", Quote(name),
                                name.empty() ? " is empty" : " is not valid UTF-8"));
    }
    const std::string context = absl::StrCat("tensor '", name, "'");
    const uint64_t dims_pos = pos_;
    ASSIGN_OR_RETURN(uint32_t n_dims, ReadU32(absl::StrCat(context, ": n_dims")));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Error(absl::StrCat(context, ": n_dims ", n_dims, " at byte ", dims_pos,
                                " is outside 1..", kMaxDims));
    }
    GgufTensorInfo info;
    info.name = std::string(name);
    int64_t num_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(uint64_t dim, ReadU64(absl::StrCat(context, ": dimension ", d)));
      if (dim == 0 || dim > static_cast<uint64_t>(INT64_MAX)) {
        return Error(absl::StrCat(context, ": dimension ", d, " is ", dim,
                                  dim == 0 ? " (empty tensor)" : " (absurd, exceeds int64)"));
      }
      if (__builtin_mul_overflow(num_elements, static_cast<int64_t>(dim), &num_elements)) {
        return Error(absl::StrCat(context, ": element count overflows int64 at dimension ", d));
      }
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t type_pos = pos_;
    ASSIGN_OR_RETURN(uint32_t type_id, ReadU32(absl::StrCat(context, ": ggml type")));
    std::optional<GgmlTypeTraits> traits = LookupGgmlType(type_id);
    if (!traits.has_value()) {
      return Unimplemented(absl::StrCat(context, ": ggml type id ", type_id, " at byte ", type_pos,
                                        " is not supported (unknown or removed from ggml)"));
    }
    if (info.shape[0] % traits->block_elems != 0) {
      return Error(absl::StrCat(context, ": row length ne0=", info.shape[0],
                                " is not a multiple of the ", traits->name, " block size ",
                                traits->block_elems));
    }
    const uint64_t num_blocks = static_cast<uint64_t>(num_elements / traits->block_elems);
    if (__builtin_mul_overflow(num_blocks, static_cast<uint64_t>(traits->block_bytes),
                               &info.size_bytes)) {
      return Error(absl::StrCat(context, ": byte size overflows uint64"));
    }
    info.type = traits->type;
    info.num_elements = num_elements;
    ASSIGN_OR_RETURN(info.offset_bytes, ReadU64(absl::StrCat(context, ": data offset")));
    if (info.offset_bytes % file_.alignment_ != 0) {
      return Error(absl::StrCat(context, ": data offset ", info.offset_bytes,
                                " is not a multiple of general.alignment ", file_.alignment_));
    }
    if (!file_.tensor_index_.emplace(info.name, file_.tensors_.size()).second) {
      return Error(absl::StrCat("duplicate tensor name '", name, "' at byte ", start));
    }
    file_.tensors_.push_back(std::move(info));
    return absl::OkStatus();
  }

  // Fixes the data section start and checks every tensor lies inside the file
  // and no two overlap.
  absl::Status PlaceTensors() {
    const uint64_t padding = (file_.alignment_ - pos_ % file_.alignment_) % file_.alignment_;
    file_.data_offset_ = pos_ + padding;  // pos_ <= size and alignment <= 2^30: no overflow
    const uint64_t file_bytes = bytes_.size();
    for (GgufTensorInfo& info : file_.tensors_) {
      uint64_t begin = 0;
      uint64_t end = 0;
      const bool overflows =
          __builtin_add_overflow(file_.data_offset_, info.offset_bytes, &begin) ||
          __builtin_add_overflow(begin, info.size_bytes, &end);
      if (overflows || end > file_bytes) {
        return Error(absl::StrCat(
            "tensor '", info.name, "': data [offset ", info.offset_bytes, ", ", info.size_bytes,
            " bytes] extends past end of file (", file_bytes, " bytes): ",
            overflows ? std::string("the end overflows uint64")
                      : absl::StrCat("it would end at byte ", end, " (data section at byte ",
                                     file_.data_offset_, ")")));
      }
      info.data = bytes_.subspan(begin, info.size_bytes);
    }
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(file_.tensors_.size());
    for (const GgufTensorInfo& info : file_.tensors_) by_offset.push_back(&info);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto* a, const auto* b) { return a->offset_bytes < b->offset_bytes; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensorInfo& prev = *by_offset[i - 1];
      const GgufTensorInfo& next = *by_offset[i];
      if (prev.offset_bytes + prev.size_bytes > next.offset_bytes) {
        return Error(absl::StrCat("tensors '", prev.name, "' [offset ", prev.offset_bytes, ", ",
                                  prev.size_bytes, " bytes] and '", next.name, "' [offset ",
                                  next.offset_bytes, ", ", next.size_bytes, " bytes] overlap"));
      }
    }
    return absl::OkStatus();
  }

  absl::Span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  GgufFile file_;
};

absl::StatusOr<GgufFile> ParseGguf(absl::Span<const uint8_t> bytes,
                                   absl::string_view display_name) {
  return GgufParser(bytes, display_name).Parse();
}

}  // namespace gqa
