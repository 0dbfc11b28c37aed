#include "worker/backend/cpu/dot_kernels.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/half.h"
#include "worker/backend/cpu/quant_tile.h"

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
  if (internal::CpuHasAvx2Fma()) {
    internal::QuantizeActivationsAvx2(x, n, out);
  } else {
    internal::QuantizeActivationsScalar(x, n, out);
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

void QuantizeActivationsScalar(const float* x, int64_t n, ActivationBlock* out) {
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

// The same operations as the scalar version, 8 lanes at a time: max is exact
// in any order, x * inverse is one IEEE multiply, and cvtps rounds to nearest
// even like nearbyint, so the blocks are bit-identical (for inputs without NaN).
GQA_AVX2 void QuantizeActivationsAvx2(const float* x, int64_t n, ActivationBlock* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / kQuantBlockElems; ++b) {
    const float* block = x + b * kQuantBlockElems;
    __m256 v[4];
    __m256 amax8 = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(block + 8 * k);
      amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float scale = _mm_cvtss_f32(m4) / 127.0f;
    const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
    const __m256 inv = _mm256_set1_ps(inverse);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], inv));
    const __m256i sum8 =
        _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum8), _mm256_extracti128_si256(sum8, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                             _mm256_packs_epi32(q[2], q[3]));
    ActivationBlock& a = out[b];
    a.scale = scale;
    a.sum = _mm_cvtsi128_si32(s4);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.qs),
                        _mm256_permutevar8x32_epi32(bytes, order));
  }
}

float DotRowScalar(WeightFormat format, const uint8_t* row, const float* x,
                   const ActivationBlock* xq, int64_t n) {
  return UsesQuantizedActivations(format) ? DotQuantScalar(format, row, xq, n)
                                          : DotFloatScalar(format, row, x, n);
}

float DotRowAvx2(WeightFormat format, const uint8_t* row, const float* x,
                 const ActivationBlock* xq, int64_t n) {
  if (!UsesQuantizedActivations(format)) return DotFloatAvx2(format, row, x, n);
  // A one-token tile: the same operations as the same token in any tile.
  TokenTile tile;
  MakeTokenTile(xq, n / kQuantBlockElems, 0, 1, &tile);
  float dot;
  QuantRowTileAvx2(format, row, n / kQuantBlockElems, tile, &dot);
  return dot;
}

}  // namespace internal

float DotRow(WeightFormat format, const uint8_t* row, const float* x, const ActivationBlock* xq,
             int64_t n) {
  return internal::CpuHasAvx2Fma() ? internal::DotRowAvx2(format, row, x, xq, n)
                                   : internal::DotRowScalar(format, row, x, xq, n);
}

}  // namespace gqa::cpu
