// WeightFormat: how a weight matrix is stored, as in GGUF files (ggml types
// F32, F16, BF16, Q8_0, Q4_0, Q4_1), and the byte size of one row. Both
// backends' ops read weights in these formats directly; the CPU engine reads
// them from the model file, while the engine's copy in GPU memory turns the
// quantized ones into BF16 or F32 (worker/engine/resident_weights.h).
#ifndef GQA_WORKER_BACKEND_WEIGHT_FORMAT_H_
#define GQA_WORKER_BACKEND_WEIGHT_FORMAT_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gqa {

enum class WeightFormat : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1 };

// Elements per quantization block (1 for the float formats).
constexpr int64_t kQuantBlockElems = 32;

constexpr int64_t BlockElems(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      return 1;
    default:
      return kQuantBlockElems;
  }
}

// Bytes of one block (one element for the float formats).
constexpr int64_t BlockBytes(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32:
      return 4;
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      return 2;
    case WeightFormat::kQ8_0:
      return 34;  // f16 scale + 32 x int8
    case WeightFormat::kQ4_0:
      return 18;  // f16 scale + 16 bytes of nibbles
    case WeightFormat::kQ4_1:
      return 20;  // f16 scale + f16 min + 16 bytes of nibbles
  }
  return 0;
}

// REQUIRES: cols is a multiple of BlockElems(format).
constexpr int64_t RowBytes(WeightFormat format, int64_t cols) {
  return cols / BlockElems(format) * BlockBytes(format);
}

absl::string_view WeightFormatName(WeightFormat format);

// A weight matrix [rows, cols], row-major: row r holds the `cols` input
// weights of output feature r (GGUF: ne0 = cols). Rows may be strided, so a
// tensor-parallel rank can view a column slice (whole blocks) of a larger
// matrix in place. Borrowed, not owned.
struct WeightView {
  WeightFormat format = WeightFormat::kF32;
  const void* data = nullptr;  // [rows, row_stride_bytes] bytes
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride_bytes = 0;  // 0: rows are packed (RowBytes(format, cols))
  const uint8_t* row(int64_t r) const {
    const int64_t stride = row_stride_bytes != 0 ? row_stride_bytes : RowBytes(format, cols);
    return static_cast<const uint8_t*>(data) + r * stride;
  }
};

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_WEIGHT_FORMAT_H_
