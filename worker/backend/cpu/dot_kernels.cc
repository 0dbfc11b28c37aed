#include "worker/backend/cpu/dot_kernels.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/half.h"

namespace gqa::cpu {
namespace {

float LoadHalf(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return HalfToFloat(bits);
}

float LoadBf16(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

// ---- portable kernels ----

float DotQuantScalar(WeightFormat format, const uint8_t* row, const ActivationBlock* xq,
                     int64_t n) {
  const int64_t blocks = n / kQuantBlockElems;
  const int64_t block_bytes = BlockBytes(format);
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = row + b * block_bytes;
    const ActivationBlock& x = xq[b];
    const float d = LoadHalf(block);
    int32_t isum = 0;
    switch (format) {
      case WeightFormat::kQ8_0: {
        const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
        for (int i = 0; i < 32; ++i) isum += q[i] * x.qs[i];
        acc += d * x.scale * static_cast<float>(isum);
        break;
      }
      case WeightFormat::kQ4_0: {
        const uint8_t* q = block + 2;
        for (int i = 0; i < 16; ++i) {
          isum += ((q[i] & 0xF) - 8) * x.qs[i] + ((q[i] >> 4) - 8) * x.qs[i + 16];
        }
        acc += d * x.scale * static_cast<float>(isum);
        break;
      }
      case WeightFormat::kQ4_1: {
        const float m = LoadHalf(block + 2);
        const uint8_t* q = block + 4;
        for (int i = 0; i < 16; ++i) isum += (q[i] & 0xF) * x.qs[i] + (q[i] >> 4) * x.qs[i + 16];
        acc += d * x.scale * static_cast<float>(isum) + m * x.scale * static_cast<float>(x.sum);
        break;
      }
      default:
        break;
    }
  }
  return acc;
}

float DotFloatScalar(WeightFormat format, const uint8_t* row, const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    float w;
    if (format == WeightFormat::kF32) {
      std::memcpy(&w, row + 4 * i, 4);
    } else if (format == WeightFormat::kF16) {
      w = LoadHalf(row + 2 * i);
    } else {
      w = LoadBf16(row + 2 * i);
    }
    acc += w * x[i];
  }
  return acc;
}

// ---- AVX2 + FMA kernels ----

#define GQA_AVX2 __attribute__((target("avx2,fma,f16c")))

GQA_AVX2 float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Hardware f16 -> f32 (F16C); the portable HalfToFloat costs ~10 instructions.
GQA_AVX2 float LoadHalfF16c(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// Sum over 32 lanes of signed w * signed x, as 8 int32 lanes converted to float.
GQA_AVX2 __m256 SignedDot32(__m256i w, __m256i x) {
  const __m256i abs_w = _mm256_sign_epi8(w, w);
  const __m256i signed_x = _mm256_sign_epi8(x, w);
  const __m256i pairs = _mm256_maddubs_epi16(abs_w, signed_x);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Unsigned nibbles 0..15 in element order 0..31.
GQA_AVX2 __m256i UnpackNibbles(const uint8_t* q) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(packed, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

GQA_AVX2 float DotQuantAvx2(WeightFormat format, const uint8_t* row, const ActivationBlock* xq,
                            int64_t n) {
  const int64_t blocks = n / kQuantBlockElems;
  const int64_t block_bytes = BlockBytes(format);
  __m256 acc = _mm256_setzero_ps();
  float offset_acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = row + b * block_bytes;
    const ActivationBlock& x = xq[b];
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
    const float d = LoadHalfF16c(block) * x.scale;
    __m256 dot;
    if (format == WeightFormat::kQ8_0) {
      dot = SignedDot32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2)), xv);
    } else if (format == WeightFormat::kQ4_0) {
      dot = SignedDot32(_mm256_sub_epi8(UnpackNibbles(block + 2), _mm256_set1_epi8(8)), xv);
    } else {  // kQ4_1: unsigned nibbles, so maddubs applies directly
      const __m256i pairs = _mm256_maddubs_epi16(UnpackNibbles(block + 4), xv);
      dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
      offset_acc += LoadHalfF16c(block + 2) * x.scale * static_cast<float>(x.sum);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), dot, acc);
  }
  return HorizontalSum(acc) + offset_acc;
}

GQA_AVX2 __m256 Load8(WeightFormat format, const uint8_t* row, int64_t i) {
  if (format == WeightFormat::kF32) return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
  if (format == WeightFormat::kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

GQA_AVX2 float DotFloatAvx2(WeightFormat format, const uint8_t* row, const float* x, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(Load8(format, row, i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(Load8(format, row, i), _mm256_loadu_ps(x + i), acc[0]);
  float sum = HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  if (i < n) {
    const int64_t bytes = BlockBytes(format);
    sum += DotFloatScalar(format, row + i * bytes, x + i, n - i);
  }
  return sum;
}

}  // namespace

void QuantizeActivations(const float* x, int64_t n, ActivationBlock* out) {
  for (int64_t b = 0; b < n / kQuantBlockElems; ++b) {
    const float* block = x + b * kQuantBlockElems;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(block[i]));
    const float scale = amax / 127.0f;
    const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
    ActivationBlock& q = out[b];
    q.scale = scale;
    q.sum = 0;
    for (int i = 0; i < 32; ++i) {
      q.qs[i] = static_cast<int8_t>(std::nearbyint(block[i] * inverse));
      q.sum += q.qs[i];
    }
  }
}

void DequantizeRow(WeightFormat format, const uint8_t* row, int64_t n, float* out) {
  if (!UsesQuantizedActivations(format)) {
    for (int64_t i = 0; i < n; ++i) {
      if (format == WeightFormat::kF32) {
        std::memcpy(&out[i], row + 4 * i, 4);
      } else {
        out[i] = format == WeightFormat::kF16 ? LoadHalf(row + 2 * i) : LoadBf16(row + 2 * i);
      }
    }
    return;
  }
  const int64_t block_bytes = BlockBytes(format);
  for (int64_t b = 0; b < n / kQuantBlockElems; ++b) {
    const uint8_t* block = row + b * block_bytes;
    float* o = out + b * kQuantBlockElems;
    const float d = LoadHalf(block);
    if (format == WeightFormat::kQ8_0) {
      const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
      for (int i = 0; i < 32; ++i) o[i] = d * q[i];
    } else if (format == WeightFormat::kQ4_0) {
      for (int i = 0; i < 16; ++i) {
        o[i] = d * ((block[2 + i] & 0xF) - 8);
        o[i + 16] = d * ((block[2 + i] >> 4) - 8);
      }
    } else {
      const float m = LoadHalf(block + 2);
      for (int i = 0; i < 16; ++i) {
        o[i] = d * (block[4 + i] & 0xF) + m;
        o[i + 16] = d * (block[4 + i] >> 4) + m;
      }
    }
  }
}

namespace internal {

// CPUID (leaf 1: FMA, AVX, OSXSAVE, F16C; leaf 7: AVX2) plus XGETBV, so the
// OS saves YMM registers. Written against cpuid.h because clang-14's
// __builtin_cpu_supports does not know "f16c".
bool DetectAvx2Fma() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28),
             f16c = ecx & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0x6) != 0x6) return false;  // XMM and YMM state enabled
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ebx & (1u << 5);
}

bool CpuHasAvx2Fma() {
  static const bool has = DetectAvx2Fma();
  return has;
}

float DotRowScalar(WeightFormat format, const uint8_t* row, const float* x,
                   const ActivationBlock* xq, int64_t n) {
  return UsesQuantizedActivations(format) ? DotQuantScalar(format, row, xq, n)
                                          : DotFloatScalar(format, row, x, n);
}

float DotRowAvx2(WeightFormat format, const uint8_t* row, const float* x,
                 const ActivationBlock* xq, int64_t n) {
  return UsesQuantizedActivations(format) ? DotQuantAvx2(format, row, xq, n)
                                          : DotFloatAvx2(format, row, x, n);
}

}  // namespace internal

float DotRow(WeightFormat format, const uint8_t* row, const float* x, const ActivationBlock* xq,
             int64_t n) {
  return internal::CpuHasAvx2Fma() ? internal::DotRowAvx2(format, row, x, xq, n)
                                   : internal::DotRowScalar(format, row, x, xq, n);
}

}  // namespace gqa::cpu
