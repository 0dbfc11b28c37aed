// Inner loops of CPU paged attention over one K/V tile (block_size x head_dim
// of one block and KV head), read in the stored dtype for the whole group:
// AVX2+FMA+F16C ones (attention_kernels_avx2.cc) when the CPU has them and
// head_dim % 16 == 0, portable ones otherwise. Each sums in an order fixed by
// its arguments' shapes alone (batch invariance). Pure functions; thread-safe.
#ifndef GQA_WORKER_BACKEND_CPU_ATTENTION_KERNELS_H_
#define GQA_WORKER_BACKEND_CPU_ATTENTION_KERNELS_H_

#include <cstdint>

#include "core/dtype.h"

namespace gqa::cpu {

// Score and probability rows are padded to a multiple of 8 floats.
// Padding scores must be -inf.
constexpr int64_t PaddedTileLen(int64_t n) { return (n + 7) / 8 * 8; }

// NOTE: a kernel set may keep head_dim rows in its own lane order (AVX2 bf16
// splits each 16 elements into even and odd ones, which decodes with a shift
// and a mask). Queries enter through permute_row and outputs leave through
// unpermute_row; everything in between is in that order.
struct AttentionKernels {
  void (*permute_row)(const float* in, int64_t dim, float* out);
  // out = in * scale, back in element order.
  void (*unpermute_row)(const float* in, int64_t dim, float scale, float* out);

  // FP8 elements enter the dot products as their code's value / fp8_unit (a
  // power of two, so exact): the caller multiplies fp8_unit * scale into the
  // score factor and into the value weights.
  float fp8_unit;

  // scores[h * stride + j] = dot(q[h], k[j]) * factor[j] for h < group,
  // j < n, reading the tile in its stored dtype. May write scores up to column
  // Padded(n) and read factor[0, Padded(n)); `scratch` holds n * dim floats.
  // `prefetch` (or nullptr): a later tile of the same size, fetched towards
  // L2 one cache line per line read here (see attention.cc).
  // REQUIRES: stride >= Padded(n), n >= 1.
  void (*scores)(const float* q /*[group, dim], permuted*/, const void* k /*[n, dim]*/,
                 const float* factor, int64_t group, int64_t n, int64_t dim, float* scores,
                 int64_t stride, float* scratch, const void* prefetch);

  // One online-softmax step for one query head over the n scores of a tile:
  // raises *running_max to the tile's maximum, sets *rescale = exp(old max -
  // new max) (exactly 1 when the maximum did not change), probs[j] =
  // exp(scores[j] - new max) (0 for -inf scores and the padding), and
  // *running_sum = *running_sum * *rescale + sum(probs). A tile of only -inf
  // scores changes nothing (probs 0, rescale 1). Reads and writes Padded(n).
  void (*online_softmax)(const float* scores, int64_t n, float* running_max, float* running_sum,
                         float* probs, float* rescale);

  // acc[h] = acc[h] * rescale[h] + sum over j < n (in order) of
  // weights[h * stride + j] * v[j], for h < group; `scratch` and `prefetch`
  // as for scores.
  void (*accumulate_values)(const float* weights, int64_t stride, const void* v /*[n, dim]*/,
                            int64_t n, int64_t group, int64_t dim, const float* rescale,
                            float* acc /*[group, dim], permuted*/, float* scratch,
                            const void* prefetch);

  // out[i] = exp(x[i] - shift) for i < n (0 for -inf). out may alias x.
  void (*exp_shifted)(const float* x, int64_t n, float shift, float* out);
};

// The kernels for a cache of `dtype` with rows of `head_dim`: AVX2 ones when
// allow_simd, the CPU has AVX2+FMA+F16C and head_dim % 16 == 0, portable ones
// otherwise (allow_simd = false lets tests compare the two).
AttentionKernels SelectAttentionKernels(DType dtype, int64_t head_dim, bool allow_simd);

namespace internal {
AttentionKernels PortableAttentionKernels(DType dtype);
// REQUIRES: the CPU has AVX2, FMA and F16C.
AttentionKernels Avx2AttentionKernels(DType dtype);
void IdentityPermute(const float* in, int64_t dim, float* out);
void IdentityUnpermute(const float* in, int64_t dim, float scale, float* out);
}  // namespace internal

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_ATTENTION_KERNELS_H_
