#include "worker/backend/cpu/quant_tile.h"

#include <immintrin.h>

#include <cstring>
#include <type_traits>

namespace gqa::cpu {
namespace {

#define GQA_AVX2 __attribute__((target("avx2,fma,f16c")))

GQA_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

GQA_AVX2 inline float LoadHalf(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// Unsigned nibbles 0..15 in element order 0..31.
GQA_AVX2 inline __m256i UnpackNibbles(const uint8_t* q) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i mask = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_and_si128(packed, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// The weight block in the form every token's product starts from: for Q8_0
// and Q4_0 the signed values (the sign is moved onto x per token, so maddubs
// can take |w| unsigned); for Q4_1 the unsigned nibbles.
template <WeightFormat F>
GQA_AVX2 inline __m256i LoadWeights(const uint8_t* block) {
  if constexpr (F == WeightFormat::kQ8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
  } else if constexpr (F == WeightFormat::kQ4_0) {
    return _mm256_sub_epi8(UnpackNibbles(block + 2), _mm256_set1_epi8(8));
  } else {
    return UnpackNibbles(block + 4);
  }
}

// Sum over 32 lanes of w * x as 8 int32 lanes converted to float. `w` is
// LoadWeights' value, `abs_w` its absolute value (signed formats only).
template <WeightFormat F>
GQA_AVX2 inline __m256 BlockDot(__m256i w, __m256i abs_w, __m256i x) {
  __m256i pairs;
  if constexpr (F == WeightFormat::kQ4_1) {
    pairs = _mm256_maddubs_epi16(w, x);
  } else {
    pairs = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(x, w));
  }
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// One row against T tokens. Per (row, token): chain c sums
// (d_w * d_x) * dot over the blocks b with b % C == c, in block order; the
// chains are added in order, then horizontally; Q4_1 then adds
// sum_b (m_w * d_x) * sum_x, accumulated with FMA in block order. With C == 1
// this is the same sequence of IEEE operations whatever T is, which is what
// makes tiles batch-invariant: for T > 1, d_w * d_x is computed for all
// tokens at once in lanes and each token's lane broadcast, the same products.
template <WeightFormat F, int T, int C>
GQA_AVX2 void RowTile(const uint8_t* row, int64_t blocks, const TokenTile& tile, float* out) {
  constexpr int64_t kBlockBytes = F == WeightFormat::kQ8_0   ? 34
                                  : F == WeightFormat::kQ4_0 ? 18
                                                             : 20;
  __m256 acc[C][T];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[c][t] = _mm256_setzero_ps();
  }
  __m256 offset = _mm256_setzero_ps();  // token t in lane t (T > 1)
  __m128 offset1 = _mm_setzero_ps();    // the one token (T == 1)
  const ActivationBlock* const* xq = tile.xq;
  const float* lanes = tile.lanes.data();
  // Block b into chain c (a compile-time index, so acc stays in registers).
  auto step = [&](int64_t b, auto chain) __attribute__((always_inline, target("avx2,fma,f16c"))) {
    constexpr int c = decltype(chain)::value;
    const uint8_t* block = row + b * kBlockBytes;
    const __m256i w = LoadWeights<F>(block);
    const __m256i abs_w = F == WeightFormat::kQ4_1 ? w : _mm256_sign_epi8(w, w);
    if constexpr (T == 1) {
      const ActivationBlock& x = xq[0][b];
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
      const __m256 scale = _mm256_set1_ps(LoadHalf(block) * x.scale);
      acc[c][0] = _mm256_fmadd_ps(scale, BlockDot<F>(w, abs_w, xv), acc[c][0]);
      if constexpr (F == WeightFormat::kQ4_1) {
        const __m128 ms = _mm_mul_ss(_mm_set_ss(LoadHalf(block + 2)), _mm_set_ss(x.scale));
        offset1 = _mm_fmadd_ss(ms, _mm_set_ss(static_cast<float>(x.sum)), offset1);
      }
    } else {
      const __m256 scales =
          _mm256_mul_ps(_mm256_set1_ps(LoadHalf(block)), _mm256_loadu_ps(lanes + b * 16));
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t][b].qs));
        const __m256 scale = _mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(t));
        acc[c][t] = _mm256_fmadd_ps(scale, BlockDot<F>(w, abs_w, xv), acc[c][t]);
      }
      if constexpr (F == WeightFormat::kQ4_1) {
        const __m256 ms =
            _mm256_mul_ps(_mm256_set1_ps(LoadHalf(block + 2)), _mm256_loadu_ps(lanes + b * 16));
        offset = _mm256_fmadd_ps(ms, _mm256_loadu_ps(lanes + b * 16 + 8), offset);
      }
    }
  };
  static_assert(C == 1 || C == 2 || C == 4);
  using C0 = std::integral_constant<int, 0>;
  using C1 = std::integral_constant<int, 1>;
  using C2 = std::integral_constant<int, 2>;
  using C3 = std::integral_constant<int, 3>;
  int64_t b = 0;
  for (; b + C <= blocks; b += C) {
    step(b, C0());
    if constexpr (C >= 2) step(b + 1, C1());
    if constexpr (C == 4) {
      step(b + 2, C2());
      step(b + 3, C3());
    }
  }
  if constexpr (C >= 2) {
    if (b < blocks) step(b, C0());
    if (b + 1 < blocks) step(b + 1, C1());
    if constexpr (C == 4) {
      if (b + 2 < blocks) step(b + 2, C2());
    }
  }
  alignas(32) float offsets[8];
  if constexpr (T == 1) {
    offsets[0] = _mm_cvtss_f32(offset1);
  } else {
    _mm256_store_ps(offsets, offset);
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    __m256 sum = acc[0][t];
#pragma GCC unroll 4
    for (int c = 1; c < C; ++c) sum = _mm256_add_ps(sum, acc[c][t]);
    const float dot = HorizontalSum(sum);
    out[t] = F == WeightFormat::kQ4_1 ? dot + offsets[t] : dot;
  }
}

template <WeightFormat F, int C1, int C2>
GQA_AVX2 void Dispatch(const uint8_t* row, int64_t blocks, const TokenTile& tile, float* out) {
  switch (tile.num_tokens) {
    case 1:
      return RowTile<F, 1, C1>(row, blocks, tile, out);
    case 2:
      return RowTile<F, 2, C2>(row, blocks, tile, out);
    case 3:
      return RowTile<F, 3, 1>(row, blocks, tile, out);
    case 4:
      return RowTile<F, 4, 1>(row, blocks, tile, out);
    case 5:
      return RowTile<F, 5, 1>(row, blocks, tile, out);
    case 6:
      return RowTile<F, 6, 1>(row, blocks, tile, out);
    case 7:
      return RowTile<F, 7, 1>(row, blocks, tile, out);
    default:
      return RowTile<F, 8, 1>(row, blocks, tile, out);
  }
}

template <int C1, int C2>
GQA_AVX2 void DispatchFormat(WeightFormat format, const uint8_t* row, int64_t blocks,
                             const TokenTile& tile, float* out) {
  if (format == WeightFormat::kQ8_0) {
    Dispatch<WeightFormat::kQ8_0, C1, C2>(row, blocks, tile, out);
  } else if (format == WeightFormat::kQ4_0) {
    Dispatch<WeightFormat::kQ4_0, C1, C2>(row, blocks, tile, out);
  } else {
    Dispatch<WeightFormat::kQ4_1, C1, C2>(row, blocks, tile, out);
  }
}

}  // namespace

void MakeTokenTile(const ActivationBlock* xq, int64_t blocks, int64_t first, int count,
                   TokenTile* tile) {
  tile->num_tokens = count;
  for (int t = 0; t < count; ++t) tile->xq[t] = xq + (first + t) * blocks;
  if (count == 1) return;  // one-token tiles read the blocks directly
  tile->lanes.assign(blocks * 16, 0.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int t = 0; t < count; ++t) {
      tile->lanes[b * 16 + t] = tile->xq[t][b].scale;
      tile->lanes[b * 16 + 8 + t] = static_cast<float>(tile->xq[t][b].sum);
    }
  }
}

void QuantRowTileAvx2(WeightFormat format, const uint8_t* row, int64_t blocks,
                      const TokenTile& tile, float* out) {
  DispatchFormat<1, 1>(format, row, blocks, tile, out);
}

void QuantRowTileAvx2Order(TileOrder order, WeightFormat format, const uint8_t* row, int64_t blocks,
                           const TokenTile& tile, float* out) {
  if (order == TileOrder::kInvariant) return DispatchFormat<1, 1>(format, row, blocks, tile, out);
  DispatchFormat<4, 2>(format, row, blocks, tile, out);
}

}  // namespace gqa::cpu
