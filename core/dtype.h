// DType: the element types gqaserve stores weights, activations and KV in, with
// their names (the one spelling used by flags, protos and files) and sizes.
// Conversions live in half.h (f16, bf16) and fp8.h (OCP E4M3FN, E5M2).
#ifndef GQA_CORE_DTYPE_H_
#define GQA_CORE_DTYPE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kFp8E4M3,  // OCP E4M3FN: bias 7, max finite 448, no infinities
  kFp8E5M2,  // OCP E5M2: bias 15, max finite 57344, IEEE infinities and NaNs
};

// Bytes per element: 4, 2, 2, 1, 1.
constexpr int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    case DType::kFp8E4M3:
    case DType::kFp8E5M2:
      return 1;
  }
  return 0;
}

constexpr bool IsFp8(DType dtype) {
  return dtype == DType::kFp8E4M3 || dtype == DType::kFp8E5M2;
}

// "f32", "f16", "bf16", "fp8-e4m3", "fp8-e5m2".
absl::string_view DTypeName(DType dtype);

// Parses the names above (case-sensitive). INVALID_ARGUMENT listing the valid
// names otherwise.
absl::StatusOr<DType> ParseDType(absl::string_view name);

}  // namespace gqa

#endif  // GQA_CORE_DTYPE_H_
