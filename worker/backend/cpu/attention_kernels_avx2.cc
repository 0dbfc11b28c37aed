// AVX2 + FMA + F16C attention kernels (attention_kernels.h). The build has no
// -mavx2: each function carries a target attribute and is only called when
// CpuHasAvx2Fma() (dot_kernels.h). REQUIRES head_dim % 16 == 0 throughout.
//
// NOTE: the tile is decoded inside the dot-product and accumulation loops,
// 16 elements at a time into two vectors, so a key or value goes from memory
// into an FMA without a round trip through scratch. With more than two query
// heads per KV head each element would be decoded once per head pair, so the
// tile is then decoded once into scratch (in the same lane order) and the f32
// loops run on it: the arithmetic, and so every result, is the same either way.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/types/span.h"
#include "core/fp8.h"
#include "worker/backend/cpu/attention_kernels.h"

namespace gqa::cpu {
namespace {

#define GQA_AVX2 __attribute__((target("avx2,fma,f16c")))

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---- Decoding: element i..i+15 of a tile into a (first 8 lanes) and b ----
// bf16: a = the even elements, b = the odd ones (PermuteBf16Row's order);
// other dtypes in element order. E4M3: |code| << 7 with the sign kept is
// the f16 of code value / 256, subnormals included; NaN codes (S.1111.111)
// would decode as 1.875, so tiles holding one take the exact path.
template <DType kDType>
GQA_AVX2 inline void Load16(const void* tile, int64_t i, __m256& a, __m256& b) {
  if constexpr (kDType == DType::kF32) {
    const float* p = static_cast<const float*>(tile) + i;
    a = _mm256_loadu_ps(p);
    b = _mm256_loadu_ps(p + 8);
  } else if constexpr (kDType == DType::kBF16) {
    const __m256i x = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(tile) + i));
    a = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
    b = _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  } else if constexpr (kDType == DType::kF16) {
    const __m128i* p = reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(tile) + i);
    a = _mm256_cvtph_ps(_mm_loadu_si128(p));
    b = _mm256_cvtph_ps(_mm_loadu_si128(p + 1));
  } else {
    const __m128i codes =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint8_t*>(tile) + i));
    __m256i half;
    if constexpr (kDType == DType::kFp8E4M3) {
      half = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(codes), 7),
                              _mm256_set1_epi16(static_cast<int16_t>(0xBF80)));
    } else {  // E5M2 is the upper byte of the f16 of the same value
      half = _mm256_slli_epi16(_mm256_cvtepu8_epi16(codes), 8);
    }
    a = _mm256_cvtph_ps(_mm256_castsi256_si128(half));
    b = _mm256_cvtph_ps(_mm256_extracti128_si256(half, 1));
  }
}

// Prefetches, towards L2, the line of the future tile holding `element` when
// column `col` of a row starts a cache line's worth of elements: called beside
// each Load16, it requests each line about once, as fast as lines are read.
// NOTE: a burst of prefetches per tile measured no better than none on tiles
// scattered by the block table; spread out like this they double the read
// rate of random 4 KiB tiles (bench/results/cpu-attention-bandwidth.md).
template <DType kDType>
GQA_AVX2 inline void PrefetchLine(const void* prefetch, int64_t element, int64_t col) {
  constexpr int64_t kBytes = DTypeSize(kDType);
  if (prefetch != nullptr && (col * kBytes) % 64 == 0) {
    _mm_prefetch(static_cast<const char*>(prefetch) + element * kBytes, _MM_HINT_T2);
  }
}

// The tile as floats in kernel lane order (count % 16 == 0).
template <DType kDType>
GQA_AVX2 void DecodeTile(const void* tile, int64_t count, float* out, const void* prefetch) {
  for (int64_t i = 0; i < count; i += 16) {
    __m256 a, b;
    PrefetchLine<kDType>(prefetch, i, i);
    Load16<kDType>(tile, i, a, b);
    _mm256_storeu_ps(out + i, a);
    _mm256_storeu_ps(out + i + 8, b);
  }
}

// True when an E4M3 tile holds a NaN code (magnitude 0x7F, the largest).
GQA_AVX2 bool HasE4M3Nan(const void* tile, int64_t count) {
  const uint8_t* p = static_cast<const uint8_t*>(tile);
  __m256i max = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    max = _mm256_max_epu8(max, _mm256_and_si256(x, _mm256_set1_epi8(0x7F)));
  }
  bool nan = _mm256_movemask_epi8(_mm256_cmpeq_epi8(max, _mm256_set1_epi8(0x7F))) != 0;
  for (; i < count; ++i) nan |= (p[i] & 0x7F) == 0x7F;
  return nan;
}

// The exact decode of an E4M3 tile, divided by the AVX2 fp8_unit (256).
void DecodeE4M3Exact(const void* tile, int64_t count, float* out) {
  DecodeFp8E4M3({static_cast<const uint8_t*>(tile), static_cast<size_t>(count)},
                {out, static_cast<size_t>(count)});
  for (int64_t i = 0; i < count; ++i) out[i] *= 0x1p-8f;
}

// [sum(v0), ..., sum(v7)], each sum in the tree ((l0+l1)+(l2+l3)) +
// ((l4+l5)+(l6+l7)): one tree for every score, whichever loop computed it.
GQA_AVX2 inline __m256 Reduce8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5,
                               __m256 v6, __m256 v7) {
  const __m256 lo = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
  const __m256 hi = _mm256_hadd_ps(_mm256_hadd_ps(v4, v5), _mm256_hadd_ps(v6, v7));
  return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31));
}

// Every (head, key) dot product accumulates, per 16 elements, fma(q_a, k_a)
// then fma(q_b, k_b) into one 8-lane accumulator, reduced by Reduce8.

// Two query heads x four keys per pass.
template <DType kDType>
GQA_AVX2 void ScoresHeadPair(const float* q0, const float* q1, const void* k, const float* factor,
                             int64_t n, int64_t dim, float* s0, float* s1, const void* prefetch) {
  for (int64_t j = 0; j < n; j += 4) {
    int64_t rows[4];  // rows past n repeat the last one
    for (int r = 0; r < 4; ++r) rows[r] = std::min(j + r, n - 1) * dim;
    __m256 acc[2][4];
    for (int r = 0; r < 4; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d += 16) {
      const __m256 x0a = _mm256_loadu_ps(q0 + d), x0b = _mm256_loadu_ps(q0 + d + 8);
      const __m256 x1a = _mm256_loadu_ps(q1 + d), x1b = _mm256_loadu_ps(q1 + d + 8);
      for (int r = 0; r < 4; ++r) {
        __m256 ka, kb;
        PrefetchLine<kDType>(prefetch, rows[r] + d, d);
        Load16<kDType>(k, rows[r] + d, ka, kb);
        acc[0][r] = _mm256_fmadd_ps(x0b, kb, _mm256_fmadd_ps(x0a, ka, acc[0][r]));
        acc[1][r] = _mm256_fmadd_ps(x1b, kb, _mm256_fmadd_ps(x1a, ka, acc[1][r]));
      }
    }
    const __m128 f = _mm_loadu_ps(factor + j);
    const __m256 s = _mm256_mul_ps(Reduce8(acc[0][0], acc[0][1], acc[0][2], acc[0][3], acc[1][0],
                                           acc[1][1], acc[1][2], acc[1][3]),
                                   _mm256_set_m128(f, f));
    _mm_storeu_ps(s0 + j, _mm256_castps256_ps128(s));
    _mm_storeu_ps(s1 + j, _mm256_extractf128_ps(s, 1));
  }
}

// One query head x eight keys per pass.
template <DType kDType>
GQA_AVX2 void ScoresOneHead(const float* q, const void* k, const float* factor, int64_t n,
                            int64_t dim, float* s, const void* prefetch) {
  for (int64_t j = 0; j < n; j += 8) {
    int64_t rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = std::min(j + r, n - 1) * dim;
    __m256 acc[8];
    for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d += 16) {
      const __m256 xa = _mm256_loadu_ps(q + d), xb = _mm256_loadu_ps(q + d + 8);
      for (int r = 0; r < 8; ++r) {
        __m256 ka, kb;
        PrefetchLine<kDType>(prefetch, rows[r] + d, d);
        Load16<kDType>(k, rows[r] + d, ka, kb);
        acc[r] = _mm256_fmadd_ps(xb, kb, _mm256_fmadd_ps(xa, ka, acc[r]));
      }
    }
    const __m256 sums = Reduce8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]);
    _mm256_storeu_ps(s + j, _mm256_mul_ps(sums, _mm256_loadu_ps(factor + j)));
  }
}

template <DType kDType>
GQA_AVX2 void ScoresAvx2(const float* q, const void* k, const float* factor, int64_t group,
                         int64_t n, int64_t dim, float* scores, int64_t stride, float* scratch,
                         const void* prefetch) {
  if constexpr (kDType == DType::kFp8E4M3) {
    if (HasE4M3Nan(k, n * dim)) {
      DecodeE4M3Exact(k, n * dim, scratch);
      return ScoresAvx2<DType::kF32>(q, scratch, factor, group, n, dim, scores, stride, nullptr,
                                     nullptr);
    }
  }
  if constexpr (kDType != DType::kF32) {
    if (group > 2) {
      DecodeTile<kDType>(k, n * dim, scratch, prefetch);
      return ScoresAvx2<DType::kF32>(q, scratch, factor, group, n, dim, scores, stride, nullptr,
                                     nullptr);
    }
  }
  int64_t h = 0;
  for (; h + 2 <= group; h += 2) {
    ScoresHeadPair<kDType>(q + h * dim, q + (h + 1) * dim, k, factor, n, dim, scores + h * stride,
                           scores + (h + 1) * stride, h == 0 ? prefetch : nullptr);
  }
  if (h < group) {
    ScoresOneHead<kDType>(q + h * dim, k, factor, n, dim, scores + h * stride,
                          h == 0 ? prefetch : nullptr);
  }
}

// exp(x) by Cephes' expf: x = n ln2 + r, |r| <= ln2/2, a degree-7 polynomial
// in r (about 1 ulp), times 2^n. 0 for x < -87.34 (so -inf gives 0); NaN stays NaN.
GQA_AVX2 inline __m256 ExpAvx2(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.33654f);
  const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_set1_ps(88.37626f), _mm256_max_ps(lowest, x));  // NaN passes
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i exponent =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

GQA_AVX2 inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

GQA_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

GQA_AVX2 void OnlineSoftmaxAvx2(const float* scores, int64_t n, float* running_max,
                                float* running_sum, float* probs, float* rescale) {
  const int64_t padded = PaddedTileLen(n);
  __m256 max = _mm256_set1_ps(kNegInf);
  for (int64_t j = 0; j < padded; j += 8) max = _mm256_max_ps(max, _mm256_loadu_ps(scores + j));
  const float new_max = std::max(*running_max, HorizontalMax(max));
  if (new_max == kNegInf) {
    *rescale = 1.0f;
    std::fill(probs, probs + padded, 0.0f);
    return;
  }
  *rescale = new_max == *running_max ? 1.0f : std::exp(*running_max - new_max);
  *running_max = new_max;
  const __m256 shift = _mm256_set1_ps(new_max);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < padded; j += 8) {
    const __m256 p = ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(scores + j), shift));
    _mm256_storeu_ps(probs + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  *running_sum = *running_sum * *rescale + HorizontalSum(sum);
}

// acc[0, 16 * kChunks) of kHeads (1 or 2) heads: acc = acc * rescale +
// sum over j of w[j] * v[j][col, col + 16 * kChunks).
template <DType kDType, int kHeads, int kChunks>
GQA_AVX2 inline void AccumulateColumns(const float* const* w, const void* v, int64_t col, int64_t n,
                                       int64_t dim, const float* rescale, float* const* acc,
                                       const void* prefetch) {
  __m256 a[kHeads][2 * kChunks];
  for (int h = 0; h < kHeads; ++h) {
    const __m256 r = _mm256_set1_ps(rescale[h]);
    for (int i = 0; i < 2 * kChunks; ++i) {
      a[h][i] = _mm256_mul_ps(_mm256_loadu_ps(acc[h] + col + 8 * i), r);
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    __m256 weight[kHeads];
    for (int h = 0; h < kHeads; ++h) weight[h] = _mm256_set1_ps(w[h][j]);
    for (int c = 0; c < kChunks; ++c) {
      __m256 x0, x1;
      PrefetchLine<kDType>(prefetch, j * dim + col + 16 * c, col + 16 * c);
      Load16<kDType>(v, j * dim + col + 16 * c, x0, x1);
      for (int h = 0; h < kHeads; ++h) {
        a[h][2 * c] = _mm256_fmadd_ps(weight[h], x0, a[h][2 * c]);
        a[h][2 * c + 1] = _mm256_fmadd_ps(weight[h], x1, a[h][2 * c + 1]);
      }
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int i = 0; i < 2 * kChunks; ++i) _mm256_storeu_ps(acc[h] + col + 8 * i, a[h][i]);
  }
}

template <DType kDType>
GQA_AVX2 void AccumulateValuesAvx2(const float* weights, int64_t stride, const void* v, int64_t n,
                                   int64_t group, int64_t dim, const float* rescale, float* acc,
                                   float* scratch, const void* prefetch) {
  if constexpr (kDType == DType::kFp8E4M3) {
    if (HasE4M3Nan(v, n * dim)) {
      DecodeE4M3Exact(v, n * dim, scratch);
      return AccumulateValuesAvx2<DType::kF32>(weights, stride, scratch, n, group, dim, rescale,
                                               acc, nullptr, nullptr);
    }
  }
  if constexpr (kDType != DType::kF32) {
    if (group > 2) {
      DecodeTile<kDType>(v, n * dim, scratch, prefetch);
      return AccumulateValuesAvx2<DType::kF32>(weights, stride, scratch, n, group, dim, rescale,
                                               acc, nullptr, nullptr);
    }
  }
  int64_t h = 0;
  for (; h + 2 <= group; h += 2) {
    const float* w[2] = {weights + h * stride, weights + (h + 1) * stride};
    float* const out[2] = {acc + h * dim, acc + (h + 1) * dim};
    const void* fetch = h == 0 ? prefetch : nullptr;  // the first pass over the tile
    int64_t d = 0;
    for (; d + 32 <= dim; d += 32) {
      AccumulateColumns<kDType, 2, 2>(w, v, d, n, dim, rescale + h, out, fetch);
    }
    if (d < dim) AccumulateColumns<kDType, 2, 1>(w, v, d, n, dim, rescale + h, out, fetch);
  }
  if (h < group) {
    const float* w[1] = {weights + h * stride};
    float* const out[1] = {acc + h * dim};
    const void* fetch = h == 0 ? prefetch : nullptr;
    int64_t d = 0;
    for (; d + 64 <= dim; d += 64) {
      AccumulateColumns<kDType, 1, 4>(w, v, d, n, dim, rescale + h, out, fetch);
    }
    for (; d < dim; d += 16)
      AccumulateColumns<kDType, 1, 1>(w, v, d, n, dim, rescale + h, out, fetch);
  }
}

GQA_AVX2 void ExpShiftedAvx2(const float* x, int64_t n, float shift, float* out) {
  const __m256 s = _mm256_set1_ps(shift);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  }
  if (i < n) {  // the tail through the same vector code
    float tail[8];
    std::fill(tail, tail + 8, kNegInf);
    std::copy(x + i, x + n, tail);
    _mm256_storeu_ps(tail, ExpAvx2(_mm256_sub_ps(_mm256_loadu_ps(tail), s)));
    std::copy(tail, tail + (n - i), out + i);
  }
}

#undef GQA_AVX2

// bf16 lane order: each 16 elements as the 8 even ones, then the 8 odd ones.
void PermuteBf16Row(const float* in, int64_t dim, float* out) {
  for (int64_t c = 0; c < dim; c += 16) {
    for (int64_t i = 0; i < 8; ++i) {
      out[c + i] = in[c + 2 * i];
      out[c + 8 + i] = in[c + 2 * i + 1];
    }
  }
}

void UnpermuteBf16Row(const float* in, int64_t dim, float scale, float* out) {
  for (int64_t c = 0; c < dim; c += 16) {
    for (int64_t i = 0; i < 8; ++i) {
      out[c + 2 * i] = in[c + i] * scale;
      out[c + 2 * i + 1] = in[c + 8 + i] * scale;
    }
  }
}

template <DType kDType>
AttentionKernels Avx2For() {
  constexpr bool kBf16 = kDType == DType::kBF16;
  return AttentionKernels{kBf16 ? PermuteBf16Row : internal::IdentityPermute,
                          kBf16 ? UnpermuteBf16Row : internal::IdentityUnpermute,
                          kDType == DType::kFp8E4M3 ? 256.0f : 1.0f,
                          ScoresAvx2<kDType>,
                          OnlineSoftmaxAvx2,
                          AccumulateValuesAvx2<kDType>,
                          ExpShiftedAvx2};
}

}  // namespace

namespace internal {

AttentionKernels Avx2AttentionKernels(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return Avx2For<DType::kF16>();
    case DType::kBF16:
      return Avx2For<DType::kBF16>();
    case DType::kFp8E4M3:
      return Avx2For<DType::kFp8E4M3>();
    case DType::kFp8E5M2:
      return Avx2For<DType::kFp8E5M2>();
    case DType::kF32:
      break;
  }
  return Avx2For<DType::kF32>();
}

}  // namespace internal
}  // namespace gqa::cpu
