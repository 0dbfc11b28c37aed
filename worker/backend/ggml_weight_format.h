// The WeightFormat a GGUF (ggml) tensor type is computed in, for the loaders
// and `gqa convert`: F32, F16, BF16, Q8_0, Q4_0, Q4_1; nullopt for any other
// type (K-quants, IQ*, ...), which callers refuse with UNIMPLEMENTED.
#ifndef GQA_WORKER_BACKEND_GGML_WEIGHT_FORMAT_H_
#define GQA_WORKER_BACKEND_GGML_WEIGHT_FORMAT_H_

#include <optional>

#include "core/gguf/ggml_type.h"
#include "worker/backend/weight_format.h"

namespace gqa {

inline std::optional<WeightFormat> WeightFormatFromGgml(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return WeightFormat::kF32;
    case GgmlType::kF16:
      return WeightFormat::kF16;
    case GgmlType::kBF16:
      return WeightFormat::kBF16;
    case GgmlType::kQ8_0:
      return WeightFormat::kQ8_0;
    case GgmlType::kQ4_0:
      return WeightFormat::kQ4_0;
    case GgmlType::kQ4_1:
      return WeightFormat::kQ4_1;
    default:
      return std::nullopt;
  }
}

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_GGML_WEIGHT_FORMAT_H_
