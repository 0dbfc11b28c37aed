#include "core/gguf/ggml_type.h"

#include <array>

namespace gqa {
namespace {

constexpr int64_t kQkK = 256;  // ggml's K-quant super-block size

// NOTE: sizes follow ggml's type traits (gguf-py's GGML_QUANT_SIZES).
constexpr std::array<GgmlTypeTraits, 32> kTraits = {{
    {GgmlType::kF32, "F32", 1, 4},
    {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", 32, 2 + 16},
    {GgmlType::kQ4_1, "Q4_1", 32, 2 + 2 + 16},
    {GgmlType::kQ5_0, "Q5_0", 32, 2 + 4 + 16},
    {GgmlType::kQ5_1, "Q5_1", 32, 2 + 2 + 4 + 16},
    {GgmlType::kQ8_0, "Q8_0", 32, 2 + 32},
    {GgmlType::kQ8_1, "Q8_1", 32, 4 + 4 + 32},
    {GgmlType::kQ2_K, "Q2_K", kQkK, 2 + 2 + kQkK / 16 + kQkK / 4},
    {GgmlType::kQ3_K, "Q3_K", kQkK, 2 + kQkK / 4 + kQkK / 8 + 12},
    {GgmlType::kQ4_K, "Q4_K", kQkK, 2 + 2 + kQkK / 2 + 12},
    {GgmlType::kQ5_K, "Q5_K", kQkK, 2 + 2 + kQkK / 2 + kQkK / 8 + 12},
    {GgmlType::kQ6_K, "Q6_K", kQkK, 2 + kQkK / 2 + kQkK / 4 + kQkK / 16},
    {GgmlType::kQ8_K, "Q8_K", kQkK, 4 + kQkK + kQkK / 8},
    {GgmlType::kIQ2_XXS, "IQ2_XXS", kQkK, 2 + kQkK / 4},
    {GgmlType::kIQ2_XS, "IQ2_XS", kQkK, 2 + kQkK / 4 + kQkK / 32},
    {GgmlType::kIQ3_XXS, "IQ3_XXS", kQkK, 2 + kQkK / 4 + kQkK / 8},
    {GgmlType::kIQ1_S, "IQ1_S", kQkK, 2 + kQkK / 8 + kQkK / 16},
    {GgmlType::kIQ4_NL, "IQ4_NL", 32, 2 + 16},
    {GgmlType::kIQ3_S, "IQ3_S", kQkK, 2 + kQkK / 4 + kQkK / 8 + kQkK / 32 + 4},
    {GgmlType::kIQ2_S, "IQ2_S", kQkK, 2 + kQkK / 4 + kQkK / 16},
    {GgmlType::kIQ4_XS, "IQ4_XS", kQkK, 2 + 2 + kQkK / 2 + kQkK / 64},
    {GgmlType::kI8, "I8", 1, 1},
    {GgmlType::kI16, "I16", 1, 2},
    {GgmlType::kI32, "I32", 1, 4},
    {GgmlType::kI64, "I64", 1, 8},
    {GgmlType::kF64, "F64", 1, 8},
    {GgmlType::kIQ1_M, "IQ1_M", kQkK, kQkK / 8 + kQkK / 16 + kQkK / 32},
    {GgmlType::kBF16, "BF16", 1, 2},
    {GgmlType::kTQ1_0, "TQ1_0", kQkK, 2 + 4 * 13},
    {GgmlType::kTQ2_0, "TQ2_0", kQkK, 2 + 64},
    {GgmlType::kMXFP4, "MXFP4", 32, 1 + 16},
}};

}  // namespace

std::optional<GgmlTypeTraits> LookupGgmlType(uint32_t type_id) {
  for (const GgmlTypeTraits& traits : kTraits) {
    if (static_cast<uint32_t>(traits.type) == type_id) return traits;
  }
  return std::nullopt;
}

GgmlTypeTraits GetGgmlTypeTraits(GgmlType type) {
  std::optional<GgmlTypeTraits> traits = LookupGgmlType(static_cast<uint32_t>(type));
  if (traits.has_value()) return *traits;
  return {type, "unknown", 1, 0};
}

absl::string_view GgmlTypeName(GgmlType type) { return GetGgmlTypeTraits(type).name; }

bool IsGgmlTypeSupportedForCompute(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
      return true;
    default:
      return false;
  }
}

}  // namespace gqa
