#include "core/gguf/gguf_writer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/gguf/gguf_file.h"

namespace gqa {
namespace {

void PutLe(std::string* out, uint64_t value, int bytes) {
  for (int b = 0; b < bytes; ++b) out->push_back(static_cast<char>((value >> (8 * b)) & 0xFF));
}

void PutString(std::string* out, absl::string_view s) {
  PutLe(out, s.size(), 8);
  out->append(s.data(), s.size());
}

void PadTo(std::string* out, uint64_t alignment) {
  out->append((alignment - out->size() % alignment) % alignment, '\0');
}

// Appends the payload of `value` (without its type id).
void PutValue(std::string* out, const GgufValue& value) {
  switch (value.type()) {
    case GgufValueType::kString:
      PutString(out, *value.AsString());
      return;
    case GgufValueType::kArray: {
      PutLe(out, static_cast<uint32_t>(value.array_type()), 4);
      PutLe(out, value.array_size(), 8);
      if (value.array_type() == GgufValueType::kString) {
        for (absl::string_view s : value.string_elements()) PutString(out, s);
      } else if (value.array_type() == GgufValueType::kArray) {
        for (const GgufValue& inner : value.nested_arrays()) PutValue(out, inner);
      } else {
        const auto packed = value.packed_elements();
        out->append(reinterpret_cast<const char*>(packed.data()), packed.size());
      }
      return;
    }
    default:
      PutLe(out, value.raw_bits(), static_cast<int>(GgufScalarBytes(value.type())));
  }
}

}  // namespace

GgufWriter::GgufWriter(GgufWriterOptions options) : options_(options) {
  if (options_.version != 2 && options_.version != 3) {
    Fail(absl::StrCat("GGUF version ", options_.version, " cannot be written (2 or 3)"));
  }
  const uint64_t a = options_.alignment;
  if (a == 0 || (a & (a - 1)) != 0 || a > (uint64_t{1} << 30)) {
    Fail(absl::StrCat("alignment ", a, " is not a power of two in [1, 2^30]"));
  } else if (a != kGgufDefaultAlignment) {
    keys_.insert(std::string(kGgufAlignmentKey));
    PutString(&kv_bytes_, kGgufAlignmentKey);
    PutLe(&kv_bytes_, static_cast<uint32_t>(GgufValueType::kUint32), 4);
    PutLe(&kv_bytes_, a, 4);
    ++kv_count_;
  }
}

void GgufWriter::Fail(std::string message) {
  if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat("GgufWriter: ", message));
}

bool GgufWriter::BeginKv(absl::string_view key, GgufValueType type) {
  if (key.empty()) {
    Fail("empty metadata key");
    return false;
  }
  if (key.size() > kGgufMaxKeyBytes) {
    Fail(absl::StrCat("metadata key of ", key.size(), " bytes exceeds ", kGgufMaxKeyBytes));
    return false;
  }
  if (key == kGgufAlignmentKey) {
    Fail("set general.alignment through GgufWriterOptions::alignment");
    return false;
  }
  if (!keys_.insert(std::string(key)).second) {
    Fail(absl::StrCat("duplicate metadata key '", key, "'"));
    return false;
  }
  PutString(&kv_bytes_, key);
  PutLe(&kv_bytes_, static_cast<uint32_t>(type), 4);
  ++kv_count_;
  return true;
}

void GgufWriter::AddScalar(absl::string_view key, GgufValueType type, uint64_t bits) {
  if (BeginKv(key, type)) PutLe(&kv_bytes_, bits, static_cast<int>(GgufScalarBytes(type)));
}

void GgufWriter::AddUint8(absl::string_view key, uint8_t v) {
  AddScalar(key, GgufValueType::kUint8, v);
}
void GgufWriter::AddInt8(absl::string_view key, int8_t v) {
  AddScalar(key, GgufValueType::kInt8, static_cast<uint8_t>(v));
}
void GgufWriter::AddUint16(absl::string_view key, uint16_t v) {
  AddScalar(key, GgufValueType::kUint16, v);
}
void GgufWriter::AddInt16(absl::string_view key, int16_t v) {
  AddScalar(key, GgufValueType::kInt16, static_cast<uint16_t>(v));
}
void GgufWriter::AddUint32(absl::string_view key, uint32_t v) {
  AddScalar(key, GgufValueType::kUint32, v);
}
void GgufWriter::AddInt32(absl::string_view key, int32_t v) {
  AddScalar(key, GgufValueType::kInt32, static_cast<uint32_t>(v));
}
void GgufWriter::AddUint64(absl::string_view key, uint64_t v) {
  AddScalar(key, GgufValueType::kUint64, v);
}
void GgufWriter::AddInt64(absl::string_view key, int64_t v) {
  AddScalar(key, GgufValueType::kInt64, static_cast<uint64_t>(v));
}
void GgufWriter::AddFloat32(absl::string_view key, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  AddScalar(key, GgufValueType::kFloat32, bits);
}
void GgufWriter::AddFloat64(absl::string_view key, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  AddScalar(key, GgufValueType::kFloat64, bits);
}
void GgufWriter::AddBool(absl::string_view key, bool v) {
  AddScalar(key, GgufValueType::kBool, v ? 1 : 0);
}

void GgufWriter::CheckStringSize(absl::string_view key, absl::string_view value) {
  if (value.size() > kGgufMaxStringBytes) {
    Fail(absl::StrCat("key '", key, "': a string of ", value.size(), " bytes exceeds ",
                      kGgufMaxStringBytes));
  }
}

void GgufWriter::AddString(absl::string_view key, absl::string_view value) {
  CheckStringSize(key, value);
  if (BeginKv(key, GgufValueType::kString)) PutString(&kv_bytes_, value);
}

void GgufWriter::AddStringArray(absl::string_view key, absl::Span<const std::string> values) {
  if (!BeginKv(key, GgufValueType::kArray)) return;
  PutLe(&kv_bytes_, static_cast<uint32_t>(GgufValueType::kString), 4);
  PutLe(&kv_bytes_, values.size(), 8);
  for (const std::string& s : values) {
    CheckStringSize(key, s);
    PutString(&kv_bytes_, s);
  }
}

void GgufWriter::AddInt32Array(absl::string_view key, absl::Span<const int32_t> values) {
  if (!BeginKv(key, GgufValueType::kArray)) return;
  PutLe(&kv_bytes_, static_cast<uint32_t>(GgufValueType::kInt32), 4);
  PutLe(&kv_bytes_, values.size(), 8);
  for (int32_t v : values) PutLe(&kv_bytes_, static_cast<uint32_t>(v), 4);
}

void GgufWriter::AddFloat32Array(absl::string_view key, absl::Span<const float> values) {
  if (!BeginKv(key, GgufValueType::kArray)) return;
  PutLe(&kv_bytes_, static_cast<uint32_t>(GgufValueType::kFloat32), 4);
  PutLe(&kv_bytes_, values.size(), 8);
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    PutLe(&kv_bytes_, bits, 4);
  }
}

void GgufWriter::AddValue(absl::string_view key, const GgufValue& value) {
  if (key == kGgufAlignmentKey) {  // written from options_; a copy must agree
    absl::StatusOr<uint64_t> alignment = value.AsUint();
    if (!alignment.ok() || *alignment != options_.alignment) {
      Fail(absl::StrCat("copied general.alignment (", value.DebugString(),
                        ") differs from GgufWriterOptions::alignment ", options_.alignment));
    }
    return;
  }
  if (BeginKv(key, value.type())) PutValue(&kv_bytes_, value);
}

void GgufWriter::AddTensor(absl::string_view name, GgmlType type, std::vector<int64_t> shape,
                           absl::string_view data) {
  const std::string context = absl::StrCat("tensor '", name, "'");
  if (name.empty() || name.size() > kGgufMaxTensorNameBytes) {
    return Fail(absl::StrCat("tensor name of ", name.size(), " bytes (1..", kGgufMaxTensorNameBytes,
                             " allowed)"));
  }
  if (!tensor_names_.insert(std::string(name)).second) {
    return Fail(absl::StrCat("duplicate tensor name '", name, "'"));
  }
  if (shape.empty() || shape.size() > 4) {
    return Fail(absl::StrCat(context, ": ", shape.size(), " dimensions (1..4 allowed)"));
  }
  const GgmlTypeTraits traits = GetGgmlTypeTraits(type);
  int64_t num_elements = 1;
  for (int64_t dim : shape) {
    if (dim <= 0 || __builtin_mul_overflow(num_elements, dim, &num_elements)) {
      return Fail(absl::StrCat(context, ": bad dimension ", dim));
    }
  }
  if (traits.block_bytes == 0 || shape[0] % traits.block_elems != 0) {
    return Fail(absl::StrCat(context, ": ne0=", shape[0], " is not a multiple of the ", traits.name,
                             " block size ", traits.block_elems));
  }
  const int64_t size_bytes = num_elements / traits.block_elems * traits.block_bytes;
  if (static_cast<int64_t>(data.size()) != size_bytes) {
    return Fail(absl::StrCat(context, ": ", data.size(), " data bytes given, ", traits.name,
                             " of this shape takes ", size_bytes));
  }
  tensors_.push_back(Tensor{std::string(name), type, std::move(shape), std::string(data)});
}

absl::StatusOr<std::string> GgufWriter::Write() const {
  if (!status_.ok()) return status_;
  const uint64_t alignment = options_.alignment;
  std::string out;
  PutLe(&out, kGgufMagic, 4);
  PutLe(&out, options_.version, 4);
  PutLe(&out, tensors_.size(), 8);
  PutLe(&out, kv_count_, 8);
  out += kv_bytes_;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    PutString(&out, t.name);
    PutLe(&out, t.shape.size(), 4);
    for (int64_t dim : t.shape) PutLe(&out, static_cast<uint64_t>(dim), 8);
    PutLe(&out, static_cast<uint32_t>(t.type), 4);
    PutLe(&out, offset, 8);
    offset += (t.data.size() + alignment - 1) / alignment * alignment;
  }
  PadTo(&out, alignment);
  for (const Tensor& t : tensors_) {
    out += t.data;
    PadTo(&out, alignment);  // the data section starts aligned, so this aligns each offset
  }
  return out;
}

absl::Status GgufWriter::WriteToFile(Env* env, const std::string& path) const {
  absl::StatusOr<std::string> bytes = Write();
  if (!bytes.ok()) return bytes.status();
  return env->WriteFileAtomically(path, *bytes);
}

}  // namespace gqa
