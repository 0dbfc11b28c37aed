#include "core/half.h"

#include <cstddef>
#include <cstring>

#include "core/convert_blocked.h"
#include "core/log.h"

namespace gqa {
using internal::ConvertBlocked;

void EncodeF16(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertBlocked(in, out, [](float v) { return FloatToHalf(v); });
}

void DecodeF16(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint16_t b) { return HalfToFloat(b); });
}

void EncodeBf16(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertBlocked(in, out, [](float v) { return FloatToBf16(v); });
}

void DecodeBf16(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint16_t b) { return Bf16ToFloat(b); });
}

}  // namespace gqa
