// Exact conversions between f32 and the OCP 8-bit floating-point formats (OFP8
// v1.0): E4M3 ("E4M3FN": bias 7, max 448, no inf, NaN only S.1111.111) and E5M2
// (bias 15, max 57344, IEEE inf/NaN), plus the per-vector scale the FP8 KV
// cache stores beside each vector. Used by the KV cache and the backends.
// Pure functions: thread-safe.
#ifndef GQA_CORE_FP8_H_
#define GQA_CORE_FP8_H_

#include <bit>
#include <cstdint>

#include "absl/types/span.h"
#include "core/dtype.h"

namespace gqa {
namespace fp8_internal {

// `cond ? a : b` as mask arithmetic. NOTE: a plain ?: lets GCC branch around
// the f32 arithmetic feeding the unused arm, and with -ftrapping-math (the
// default) it then cannot if-convert the loop, so nothing vectorizes.
constexpr uint32_t SelectBits(bool cond, uint32_t a, uint32_t b) {
  const uint32_t mask = 0u - static_cast<uint32_t>(cond);
  return (a & mask) | (b & ~mask);
}

}  // namespace fp8_internal

// What encoding does with a finite value whose round-to-nearest-even result
// lies beyond the largest finite value (|x| > 464 for E4M3, |x| >= 61440 for
// E5M2), and with +-inf.
//                       E4M3 overflow   E4M3 +-inf   E5M2 overflow   E5M2 +-inf
//   kNonSaturating      NaN (0x7F)      NaN (0x7F)   +-inf (0x7C)    +-inf
//   kSaturating         +-448 (0x7E)    +-448        +-57344 (0x7B)  +-57344
// The sign bit is kept in every case. NaN input always gives NaN (E4M3 S.1111.111,
// E5M2 S.11111.10). These are OCP's non-saturating and saturating modes; for
// inf under saturation we follow NVIDIA's __NV_SATFINITE (inf clamps to max).
enum class Fp8Overflow { kNonSaturating, kSaturating };

inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr float kFp8E5M2Max = 57344.0f;

// Largest finite value of an FP8 dtype; 0 for any other dtype.
constexpr float Fp8MaxFinite(DType dtype) {
  return dtype == DType::kFp8E4M3 ? kFp8E4M3Max : dtype == DType::kFp8E5M2 ? kFp8E5M2Max : 0.0f;
}

// NOTE: the scalar conversions are inline, branch-free and constexpr so that
// kernels inline them and the bulk loops in fp8.cc auto-vectorize with plain
// SSE2. Encoding rounds to nearest even: normal results by integer rounding of
// the dropped mantissa bits, subnormal results by one f32 addition of a power
// of two whose ulp is the FP8 subnormal step (the FPU rounds to nearest even).
// They assume the default rounding mode, which gqaserve never changes.

// E4M3 code -> f32, exact: S.0000.mmm = m * 2^-9, S.eeee.mmm = 1.mmm * 2^(e-7),
// S.1111.111 = NaN (quiet, with the code's sign).
constexpr float Fp8E4M3ToFloat(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t a = code & 0x7Fu;
  const uint32_t normal = (a << 20) + (120u << 23);  // rebias by 127 - 7
  const uint32_t subnormal = std::bit_cast<uint32_t>(static_cast<float>(a) * 0x1p-9f);
  using fp8_internal::SelectBits;
  uint32_t bits = SelectBits(a < 0x08u, subnormal, normal);
  bits = SelectBits(a == 0x7Fu, 0x7FC00000u, bits);
  return std::bit_cast<float>(sign | bits);
}

// E5M2 code -> f32, exact: S.00000.mm = m * 2^-16, S.eeeee.mm = 1.mm * 2^(e-15),
// S.11111.00 = +-inf, S.11111.{01,10,11} = NaN (quiet, with the code's sign).
constexpr float Fp8E5M2ToFloat(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t a = code & 0x7Fu;
  const uint32_t normal = (a << 21) + (112u << 23);  // rebias by 127 - 15
  const uint32_t subnormal = std::bit_cast<uint32_t>(static_cast<float>(a) * 0x1p-16f);
  using fp8_internal::SelectBits;
  uint32_t bits = SelectBits(a < 0x04u, subnormal, normal);
  bits = SelectBits(a == 0x7Cu, 0x7F800000u, bits);
  bits = SelectBits(a > 0x7Cu, 0x7FC00000u, bits);
  return std::bit_cast<float>(sign | bits);
}

// f32 -> E4M3 code, round to nearest even (ties at 464 go to 448, whose
// mantissa 110 is even). Overflow and inf as in Fp8Overflow; NaN -> S.1111.111;
// signed zero and |x| <= 2^-10 (a tie, to even 0) -> signed zero.
constexpr uint8_t FloatToFp8E4M3(float value, Fp8Overflow overflow) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  // |x| >= 2^-6: drop 20 mantissa bits with RNE, rebias the exponent.
  const uint32_t normal = (a + 0x7FFFFu + ((a >> 20) & 1u) - (120u << 23)) >> 20;
  // |x| < 2^-6: the ulp of 2^14 is 2^-9, the E4M3 subnormal step.
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0x1p14f) - std::bit_cast<uint32_t>(0x1p14f);
  using fp8_internal::SelectBits;
  uint32_t out = SelectBits(a < (121u << 23), subnormal, normal);
  const uint32_t overflowed = overflow == Fp8Overflow::kSaturating ? 0x7Eu : 0x7Fu;
  out = SelectBits(a > 0x43E80000u, overflowed, out);  // |x| > 464, inf, NaN
  out = SelectBits(a > 0x7F800000u, 0x7Fu, out);       // NaN
  return static_cast<uint8_t>(sign | out);
}

// f32 -> E5M2 code, round to nearest even (ties at 61440 go to 2^16, i.e.
// overflow, as in IEEE). Overflow and inf as in Fp8Overflow; NaN -> S.11111.10.
constexpr uint8_t FloatToFp8E5M2(float value, Fp8Overflow overflow) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  // |x| >= 2^-14: drop 21 mantissa bits with RNE, rebias the exponent.
  const uint32_t normal = (a + 0xFFFFFu + ((a >> 21) & 1u) - (112u << 23)) >> 21;
  // |x| < 2^-14: the ulp of 2^7 is 2^-16, the E5M2 subnormal step.
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(a) + 0x1p7f) - std::bit_cast<uint32_t>(0x1p7f);
  using fp8_internal::SelectBits;
  uint32_t out = SelectBits(a < (113u << 23), subnormal, normal);
  const uint32_t overflowed = overflow == Fp8Overflow::kSaturating ? 0x7Bu : 0x7Cu;
  out = SelectBits(a >= 0x47700000u, overflowed, out);  // |x| >= 61440, inf, NaN
  out = SelectBits(a > 0x7F800000u, 0x7Eu, out);        // NaN
  return static_cast<uint8_t>(sign | out);
}

// Bulk conversions, bit-identical to the scalar functions, vectorized.
// REQUIRES: in.size() == out.size() (CHECKed); in and out do not overlap.
void EncodeFp8E4M3(absl::Span<const float> in, absl::Span<uint8_t> out, Fp8Overflow overflow);
void DecodeFp8E4M3(absl::Span<const uint8_t> in, absl::Span<float> out);
void EncodeFp8E5M2(absl::Span<const float> in, absl::Span<uint8_t> out, Fp8Overflow overflow);
void DecodeFp8E5M2(absl::Span<const uint8_t> in, absl::Span<float> out);

// The same, picking the format from `fp8_dtype`.
// REQUIRES: IsFp8(fp8_dtype) (CHECKed), and the size rules above.
void EncodeFp8(DType fp8_dtype, absl::Span<const float> in, absl::Span<uint8_t> out,
               Fp8Overflow overflow);
void DecodeFp8(DType fp8_dtype, absl::Span<const uint8_t> in, absl::Span<float> out);

// Per-vector scale for FP8 storage: store Encode(v / scale), read Decode(c) *
// scale. Returns amax / Fp8MaxFinite(fp8_dtype), where amax = max |v|, nudged
// up by float ulps so that amax / scale <= max finite holds in f32 arithmetic
// (so every v / scale encodes without overflow in either mode), and at least
// FLT_MIN (the smallest normal float) so that v / scale never divides by a
// subnormal or zero. Returns 1.0f when `values` is empty, all zeros, or holds
// an inf or NaN (amax non-finite): there is nothing to scale, or no finite
// scale fits; saturating encoding then clamps infs and keeps NaNs.
// REQUIRES: IsFp8(fp8_dtype) (CHECKed).
float Fp8ScaleFor(absl::Span<const float> values, DType fp8_dtype);

}  // namespace gqa

#endif  // GQA_CORE_FP8_H_
