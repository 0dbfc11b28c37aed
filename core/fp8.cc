#include "core/fp8.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

#include "core/convert_blocked.h"
#include "core/log.h"

namespace gqa {
using internal::ConvertBlocked;

void EncodeFp8E4M3(absl::Span<const float> in, absl::Span<uint8_t> out, Fp8Overflow overflow) {
  // One loop per mode, so the mode select folds away inside the loop.
  if (overflow == Fp8Overflow::kSaturating) {
    ConvertBlocked(in, out, [](float v) { return FloatToFp8E4M3(v, Fp8Overflow::kSaturating); });
  } else {
    ConvertBlocked(in, out, [](float v) { return FloatToFp8E4M3(v, Fp8Overflow::kNonSaturating); });
  }
}

void DecodeFp8E4M3(absl::Span<const uint8_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint8_t c) { return Fp8E4M3ToFloat(c); });
}

void EncodeFp8E5M2(absl::Span<const float> in, absl::Span<uint8_t> out, Fp8Overflow overflow) {
  if (overflow == Fp8Overflow::kSaturating) {
    ConvertBlocked(in, out, [](float v) { return FloatToFp8E5M2(v, Fp8Overflow::kSaturating); });
  } else {
    ConvertBlocked(in, out, [](float v) { return FloatToFp8E5M2(v, Fp8Overflow::kNonSaturating); });
  }
}

void DecodeFp8E5M2(absl::Span<const uint8_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint8_t c) { return Fp8E5M2ToFloat(c); });
}

void EncodeFp8(DType fp8_dtype, absl::Span<const float> in, absl::Span<uint8_t> out,
               Fp8Overflow overflow) {
  CHECK(IsFp8(fp8_dtype)) << "dtype=" << DTypeName(fp8_dtype);
  if (fp8_dtype == DType::kFp8E4M3) {
    EncodeFp8E4M3(in, out, overflow);
  } else {
    EncodeFp8E5M2(in, out, overflow);
  }
}

void DecodeFp8(DType fp8_dtype, absl::Span<const uint8_t> in, absl::Span<float> out) {
  CHECK(IsFp8(fp8_dtype)) << "dtype=" << DTypeName(fp8_dtype);
  if (fp8_dtype == DType::kFp8E4M3) {
    DecodeFp8E4M3(in, out);
  } else {
    DecodeFp8E5M2(in, out);
  }
}

float Fp8ScaleFor(absl::Span<const float> values, DType fp8_dtype) {
  CHECK(IsFp8(fp8_dtype)) << "dtype=" << DTypeName(fp8_dtype);
  // max |v| over the bit patterns: for non-negative floats the integer order
  // is the value order, and inf/NaN patterns sort above every finite value.
  // Signed ints because SSE2 has a signed 32-bit compare and no unsigned one.
  int32_t amax_bits = 0;
  for (float v : values) {
    amax_bits = std::max(amax_bits, static_cast<int32_t>(std::bit_cast<uint32_t>(v) & 0x7FFFFFFFu));
  }
  if (amax_bits == 0 || amax_bits >= 0x7F800000) return 1.0f;
  const float amax = std::bit_cast<float>(amax_bits);
  const float max_finite = Fp8MaxFinite(fp8_dtype);
  float scale = std::max(amax / max_finite, std::numeric_limits<float>::min());
  // The division rounded; at most a couple of ulps up restore amax / scale <= max.
  while (amax / scale > max_finite) {
    scale = std::nextafter(scale, std::numeric_limits<float>::infinity());
  }
  return scale;
}

}  // namespace gqa
