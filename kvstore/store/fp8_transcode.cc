#include "kvstore/store/fp8_transcode.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/crc32c.h"
#include "core/fp8.h"
#include "core/half.h"
#include "kvstore/store/block_layout.h"

namespace gqa::kvstore {
namespace {

bool IsFloat(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

absl::Status CheckSize(absl::string_view payload, const BlockLayout& layout, int32_t num_kv_heads,
                       DType dtype) {
  absl::StatusOr<int64_t> bytes = PayloadBytes(layout, num_kv_heads, dtype);
  if (!bytes.ok()) return bytes.status();
  if (static_cast<int64_t>(payload.size()) != *bytes) {
    return absl::InvalidArgumentError(absl::StrCat("a ", DTypeName(dtype),
                                                   " payload of this layout is ", *bytes,
                                                   " bytes, got ", payload.size()));
  }
  return absl::OkStatus();
}

// Row `row` of a float payload, widened to f32.
void LoadRow(const char* elements, DType dtype, int64_t row, int32_t head_dim, float* out) {
  const size_t n = static_cast<size_t>(head_dim);
  const char* src = elements + row * head_dim * DTypeSize(dtype);
  if (dtype == DType::kF32) {
    std::memcpy(out, src, n * sizeof(float));
    return;
  }
  std::vector<uint16_t> bits(n);
  std::memcpy(bits.data(), src, n * sizeof(uint16_t));
  if (dtype == DType::kF16) {
    DecodeF16(bits, absl::MakeSpan(out, n));
  } else {
    DecodeBf16(bits, absl::MakeSpan(out, n));
  }
}

// Narrows f32 values into row `row` of a float payload.
void StoreRow(const float* values, DType dtype, int64_t row, int32_t head_dim, char* elements) {
  const size_t n = static_cast<size_t>(head_dim);
  char* dst = elements + row * head_dim * DTypeSize(dtype);
  if (dtype == DType::kF32) {
    std::memcpy(dst, values, n * sizeof(float));
    return;
  }
  std::vector<uint16_t> bits(n);
  if (dtype == DType::kF16) {
    EncodeF16(absl::MakeConstSpan(values, n), absl::MakeSpan(bits));
  } else {
    EncodeBf16(absl::MakeConstSpan(values, n), absl::MakeSpan(bits));
  }
  std::memcpy(dst, bits.data(), n * sizeof(uint16_t));
}

}  // namespace

absl::StatusOr<std::string> QuantizePayloadToFp8(absl::string_view payload,
                                                 const BlockLayout& layout, int32_t num_kv_heads,
                                                 DType from, DType to) {
  if (!IsFloat(from) || !IsFp8(to)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot quantize ", DTypeName(from), " to ",
                                                   DTypeName(to), "; need f32/f16/bf16 to fp8"));
  }
  if (absl::Status status = CheckSize(payload, layout, num_kv_heads, from); !status.ok()) {
    return status;
  }
  const int64_t num_rows = NumRows(layout, num_kv_heads);
  const size_t head_dim = static_cast<size_t>(layout.head_dim);
  const int64_t element_bytes = ElementBytes(layout, num_kv_heads, to);
  std::string out(static_cast<size_t>(element_bytes + num_rows * kFp8ScaleBytes), '\0');
  std::vector<float> row(head_dim);
  std::vector<float> scaled(head_dim);
  for (int64_t r = 0; r < num_rows; ++r) {
    LoadRow(payload.data(), from, r, layout.head_dim, row.data());
    const float scale = Fp8ScaleFor(row, to);  // amax / max_finite; 1 for all zeros
    for (size_t i = 0; i < head_dim; ++i) scaled[i] = row[i] / scale;
    EncodeFp8(
        to, scaled,
        absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()) + r * layout.head_dim, head_dim),
        Fp8Overflow::kSaturating);
    std::memcpy(out.data() + element_bytes + r * kFp8ScaleBytes, &scale, sizeof(float));
  }
  return out;
}

absl::StatusOr<std::string> DequantizePayloadFromFp8(absl::string_view payload,
                                                     const BlockLayout& layout,
                                                     int32_t num_kv_heads, DType from, DType to) {
  if (!IsFp8(from) || !IsFloat(to)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot dequantize ", DTypeName(from), " to ",
                                                   DTypeName(to), "; need fp8 to f32/f16/bf16"));
  }
  if (absl::Status status = CheckSize(payload, layout, num_kv_heads, from); !status.ok()) {
    return status;
  }
  const int64_t num_rows = NumRows(layout, num_kv_heads);
  const size_t head_dim = static_cast<size_t>(layout.head_dim);
  const int64_t element_bytes = ElementBytes(layout, num_kv_heads, from);
  std::string out(static_cast<size_t>(ElementBytes(layout, num_kv_heads, to)), '\0');
  std::vector<float> row(head_dim);
  for (int64_t r = 0; r < num_rows; ++r) {
    float scale;
    std::memcpy(&scale, payload.data() + element_bytes + r * kFp8ScaleBytes, sizeof(float));
    if (!std::isfinite(scale) || !(scale > 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("fp8 scale of row ", r, " is ", scale, "; scales must be finite and > 0"));
    }
    DecodeFp8(from,
              absl::MakeConstSpan(
                  reinterpret_cast<const uint8_t*>(payload.data()) + r * layout.head_dim, head_dim),
              absl::MakeSpan(row));
    for (float& v : row) v *= scale;
    StoreRow(row.data(), to, r, layout.head_dim, out.data());
  }
  return out;
}

absl::StatusOr<Block> TranscodeBlock(const Block& block, DType to) {
  if (block.key.dtype == to) return block;
  const DType from = block.key.dtype;
  absl::StatusOr<std::string> payload =
      IsFp8(to) ? QuantizePayloadToFp8(block.payload, block.layout, block.key.shard.num_kv_heads,
                                       from, to)
                : DequantizePayloadFromFp8(block.payload, block.layout,
                                           block.key.shard.num_kv_heads, from, to);
  if (!payload.ok()) return payload.status();
  Block out;
  out.key = block.key;
  out.key.dtype = to;
  out.layout = block.layout;
  out.payload = *std::move(payload);
  out.payload_crc32c = crc32c::Value(out.payload);
  return out;
}

}  // namespace gqa::kvstore
