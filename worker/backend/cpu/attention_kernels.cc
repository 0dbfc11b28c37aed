// The portable attention kernels (any CPU, any head_dim) and the selection.
#include "worker/backend/cpu/attention_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/types/span.h"
#include "core/fp8.h"
#include "core/half.h"
#include "worker/backend/cpu/dot_kernels.h"

namespace gqa::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The tile's n * dim elements as exact floats: in place for f32.
template <DType kDType>
const float* DecodeTile(const void* tile, int64_t count, float* scratch) {
  const absl::Span<float> out(scratch, static_cast<size_t>(count));
  if constexpr (kDType == DType::kF32) {
    return static_cast<const float*>(tile);
  } else if constexpr (kDType == DType::kF16) {
    DecodeF16({static_cast<const uint16_t*>(tile), out.size()}, out);
  } else if constexpr (kDType == DType::kBF16) {
    DecodeBf16({static_cast<const uint16_t*>(tile), out.size()}, out);
  } else {
    DecodeFp8(kDType, {static_cast<const uint8_t*>(tile), out.size()}, out);
  }
  return scratch;
}

// Eight interleaved partial sums added in a fixed tree (vectorizable).
float DotScalar(const float* a, const float* b, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) lanes[i % 8] += a[i] * b[i];
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
         ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

template <DType kDType>
void ScoresScalar(const float* q, const void* k_tile, const float* factor, int64_t group, int64_t n,
                  int64_t dim, float* scores, int64_t stride, float* scratch,
                  const void* prefetch) {
  const float* k = DecodeTile<kDType>(k_tile, n * dim, scratch);
  for (int64_t h = 0; h < group; ++h) {
    for (int64_t j = 0; j < n; ++j) {
      scores[h * stride + j] = DotScalar(q + h * dim, k + j * dim, dim) * factor[j];
    }
  }
}

void OnlineSoftmaxScalar(const float* scores, int64_t n, float* running_max, float* running_sum,
                         float* probs, float* rescale) {
  const int64_t padded = PaddedTileLen(n);
  float block_max = kNegInf;
  for (int64_t j = 0; j < n; ++j) block_max = std::max(block_max, scores[j]);
  const float new_max = std::max(*running_max, block_max);
  if (new_max == kNegInf) {
    *rescale = 1.0f;
    std::fill(probs, probs + padded, 0.0f);
    return;
  }
  *rescale = new_max == *running_max ? 1.0f : std::exp(*running_max - new_max);
  *running_max = new_max;
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    probs[j] = std::exp(scores[j] - new_max);
    sum += probs[j];
  }
  std::fill(probs + n, probs + padded, 0.0f);
  *running_sum = *running_sum * *rescale + sum;
}

template <DType kDType>
void AccumulateValuesScalar(const float* weights, int64_t stride, const void* v_tile, int64_t n,
                            int64_t group, int64_t dim, const float* rescale, float* acc,
                            float* scratch, const void* prefetch) {
  const float* v = DecodeTile<kDType>(v_tile, n * dim, scratch);
  for (int64_t h = 0; h < group; ++h) {
    float* head_acc = acc + h * dim;
    for (int64_t d = 0; d < dim; ++d) head_acc[d] *= rescale[h];
    for (int64_t j = 0; j < n; ++j) {
      const float w = weights[h * stride + j];
      const float* v_row = v + j * dim;
      for (int64_t d = 0; d < dim; ++d) head_acc[d] += w * v_row[d];
    }
  }
}

void ExpShiftedScalar(const float* x, int64_t n, float shift, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::exp(x[i] - shift);
}

template <DType kDType>
AttentionKernels PortableFor() {
  return AttentionKernels{
      internal::IdentityPermute, internal::IdentityUnpermute, 1.0f,
      ScoresScalar<kDType>,      OnlineSoftmaxScalar,         AccumulateValuesScalar<kDType>,
      ExpShiftedScalar};
}

}  // namespace

namespace internal {

void IdentityPermute(const float* in, int64_t dim, float* out) {
  std::memcpy(out, in, dim * sizeof(float));
}

void IdentityUnpermute(const float* in, int64_t dim, float scale, float* out) {
  for (int64_t d = 0; d < dim; ++d) out[d] = in[d] * scale;
}

AttentionKernels PortableAttentionKernels(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return PortableFor<DType::kF16>();
    case DType::kBF16:
      return PortableFor<DType::kBF16>();
    case DType::kFp8E4M3:
      return PortableFor<DType::kFp8E4M3>();
    case DType::kFp8E5M2:
      return PortableFor<DType::kFp8E5M2>();
    case DType::kF32:
      break;
  }
  return PortableFor<DType::kF32>();
}

}  // namespace internal

AttentionKernels SelectAttentionKernels(DType dtype, int64_t head_dim, bool allow_simd) {
  if (allow_simd && head_dim % 16 == 0 && internal::CpuHasAvx2Fma()) {
    return internal::Avx2AttentionKernels(dtype);
  }
  return internal::PortableAttentionKernels(dtype);
}

}  // namespace gqa::cpu
