// Exact conversions between f32 and the 16-bit float types gqaserve stores:
// IEEE 754 binary16 ("f16") and bfloat16 ("bf16", the upper half of an f32).
// Used by the CPU backend's loads/stores and by weight and KV conversion.
// Float -> 16-bit rounds to nearest, ties to even (subnormals included);
// NaN stays a quiet NaN with its sign. Pure functions: thread-safe.
#ifndef GQA_CORE_HALF_H_
#define GQA_CORE_HALF_H_

#include <bit>
#include <cstdint>

#include "absl/types/span.h"

namespace gqa {
namespace half_internal {

// `cond ? a : b` as mask arithmetic. NOTE: a plain ?: lets GCC branch around
// the f32 arithmetic feeding the unused arm, and with -ftrapping-math (the
// default) it then cannot if-convert the loop, so nothing vectorizes.
constexpr uint32_t SelectBits(bool cond, uint32_t a, uint32_t b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(cond);
  return (a & mask) | (b & ~mask);
}

}  // namespace half_internal

// NOTE: the scalar conversions are inline, branch-free and constexpr, so that
// kernels inline them and the bulk loops in half.cc auto-vectorize with plain
// SSE2. They assume the default round-to-nearest floating-point environment
// (never changed in gqaserve).

// binary16 bits -> f32; exact for every code (NaN payloads are kept).
constexpr float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t magnitude = bits & 0x7FFFu;
  // Normal and special: move exponent and mantissa into place and rebias by
  // 127 - 15 = 112; exponent 31 (inf/NaN) needs another 112 to reach 255.
  const uint32_t normal = (magnitude << 13) + (magnitude >= 0x7C00u ? 224u << 23 : 112u << 23);
  // Subnormal and zero: magnitude * 2^-24 is exact in f32.
  const uint32_t subnormal = std::bit_cast<uint32_t>(static_cast<float>(magnitude) * 0x1p-24f);
  return std::bit_cast<float>(sign |
                              half_internal::SelectBits(magnitude < 0x0400u, subnormal, normal));
}

// f32 -> binary16 bits, round to nearest even. |value| >= 65520 (the midpoint
// between 65504 and 2^16) becomes inf; NaN becomes a quiet NaN keeping its sign
// and its top mantissa bits.
constexpr uint16_t FloatToHalf(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  // Normal result: rebias the exponent (-112) and round the 13 dropped bits to
  // nearest even; a carry out of the mantissa bumps the exponent, up to inf.
  const uint32_t normal = (a + 0x0FFFu + ((a >> 13) & 1u) - (112u << 23)) >> 13;
  // Subnormal result (|value| < 2^-14): adding 0.5f, whose ulp is 2^-24 (the
  // binary16 subnormal step), makes the FPU round to nearest even for us.
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0.5f) - std::bit_cast<uint32_t>(0.5f);
  using half_internal::SelectBits;
  uint32_t out = SelectBits(a < (113u << 23), subnormal, normal);
  out = SelectBits(a >= (143u << 23), 0x7C00u, out);                       // >= 2^16 (and inf)
  out = SelectBits(a > 0x7F800000u, 0x7E00u | ((a >> 13) & 0x3FFu), out);  // NaN, quieted
  return static_cast<uint16_t>(sign | out);
}

// bfloat16 bits -> f32; exact.
constexpr float Bf16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// f32 -> bfloat16 bits, round to nearest even (overflow rounds to inf as in
// IEEE). NaN stays NaN (quiet bit set), never rounded into inf.
constexpr uint16_t FloatToBf16(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x0040u;
  return static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
}

// Bulk conversions, bit-identical to the scalar functions above, vectorized.
// REQUIRES: in.size() == out.size() (CHECKed); in and out do not overlap.
void EncodeF16(absl::Span<const float> in, absl::Span<uint16_t> out);
void DecodeF16(absl::Span<const uint16_t> in, absl::Span<float> out);
void EncodeBf16(absl::Span<const float> in, absl::Span<uint16_t> out);
void DecodeBf16(absl::Span<const uint16_t> in, absl::Span<float> out);

}  // namespace gqa

#endif  // GQA_CORE_HALF_H_
