// Elementwise and per-row kernels of the CUDA backend: RMSNorm, RoPE,
// SwiGLU, Add, embedding lookup, weight dequantization, f32 -> 16-bit
// conversion and greedy argmax. Each mirrors the CPU backend's arithmetic
// (double sums where it sums in double, no FMA contraction where it has none)
// so the comparison tests can use tight tolerances.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/cuda/cuda_status.h"

namespace gqa::cuda {
namespace {

constexpr int kThreads = 256;

unsigned GridFor(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__device__ __forceinline__ float LoadHalfBits(const uint8_t* p) {
  const uint16_t bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

// Element i of a weight row in `format`, as the CPU's DequantizeRow computes it.
__device__ float WeightElement(WeightFormat format, const uint8_t* row, int64_t i) {
  switch (format) {
    case WeightFormat::kF32: {
      float v;
      memcpy(&v, row + 4 * i, 4);
      return v;
    }
    case WeightFormat::kF16:
      return LoadHalfBits(row + 2 * i);
    case WeightFormat::kBF16: {
      const uint16_t bits = static_cast<uint16_t>(row[2 * i] | (row[2 * i + 1] << 8));
      return __uint_as_float(static_cast<uint32_t>(bits) << 16);
    }
    default:
      break;
  }
  const int64_t b = i / 32, w = i % 32;
  const uint8_t* block = row + b * BlockBytes(format);
  const float d = LoadHalfBits(block);
  if (format == WeightFormat::kQ8_0) {
    return __fmul_rn(d, static_cast<float>(static_cast<int8_t>(block[2 + w])));
  }
  if (format == WeightFormat::kQ4_0) {
    const int q = w < 16 ? (block[2 + w] & 0xF) : (block[2 + w - 16] >> 4);
    return __fmul_rn(d, static_cast<float>(q - 8));
  }
  const float m = LoadHalfBits(block + 2);
  const int q = w < 16 ? (block[4 + w] & 0xF) : (block[4 + w - 16] >> 4);
  return __fadd_rn(__fmul_rn(d, static_cast<float>(q)), m);
}

int64_t RowStride(const WeightView& w) {
  return w.row_stride_bytes != 0 ? w.row_stride_bytes : RowBytes(w.format, w.cols);
}

__global__ void RmsNormKernel(const float* x, const float* weight, float* y, int64_t dim,
                              float eps) {
  const float* row = x + blockIdx.x * dim;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    sum += static_cast<double>(row[i]) * row[i];
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  __shared__ double warp_sums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float inverse_rms = static_cast<float>(1.0 / sqrt(total / static_cast<double>(dim) + eps));
  float* out = y + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    out[i] = __fmul_rn(__fmul_rn(row[i], inverse_rms), weight[i]);
  }
}

// One thread per (token, head of q then k, pair).
__global__ void RopeKernel(RopeParams p, const __grid_constant__ RopeFrequencies freq) {
  const int64_t half = p.head_dim / 2;
  const int64_t heads = p.num_q_heads + p.num_kv_heads;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= p.num_tokens * heads * half) return;
  const int64_t i = idx % half, h = idx / half % heads, t = idx / half / heads;
  float* head = h < p.num_q_heads ? p.q + (t * p.num_q_heads + h) * p.head_dim
                                  : p.k + (t * p.num_kv_heads + h - p.num_q_heads) * p.head_dim;
  if ((h < p.num_q_heads ? p.q : p.k) == nullptr) return;
  double s, c;
  sincos(static_cast<double>(p.positions[t]) * freq.inv_freq[i], &s, &c);
  const int64_t a = p.interleaved_pairs ? 2 * i : i;
  const int64_t b = p.interleaved_pairs ? 2 * i + 1 : i + half;
  const double x0 = head[a], x1 = head[b];
  head[a] = static_cast<float>(x0 * c - x1 * s);
  head[b] = static_cast<float>(x0 * s + x1 * c);
}

__global__ void SwiGluKernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  out[i] = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
}

__global__ void AddKernel(float* x, const float* delta, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = __fadd_rn(x[i], delta[i]);
}

// One block per token.
__global__ void EmbeddingKernel(EmbeddingParams p, int64_t row_stride, DeviceErrorWord errors) {
  const int64_t t = blockIdx.x;
  const int32_t id = p.token_ids[t];
  float* out = p.out + t * p.table.cols;
  if (id < 0 || id >= p.table.rows) {
    if (threadIdx.x == 0) {
      RecordDeviceError(errors, DeviceErrorCode::kTokenIdOutOfRange, t, id, p.table.rows);
    }
    for (int64_t i = threadIdx.x; i < p.table.cols; i += blockDim.x) out[i] = 0.0f;
    return;
  }
  const uint8_t* row = static_cast<const uint8_t*>(p.table.data) + id * row_stride;
  for (int64_t i = threadIdx.x; i < p.table.cols; i += blockDim.x) {
    out[i] = WeightElement(p.table.format, row, i);
  }
}

__global__ void GatherRowsKernel(GatherRowsParams p, DeviceErrorWord errors) {
  const int64_t i = blockIdx.x;
  const int32_t row = p.rows[i];
  float* out = p.dst + i * p.width;
  if (row < 0 || row >= p.num_src_rows) {
    if (threadIdx.x == 0) {
      RecordDeviceError(errors, DeviceErrorCode::kGatherRowOutOfRange, i, row, p.num_src_rows);
    }
    for (int64_t j = threadIdx.x; j < p.width; j += blockDim.x) out[j] = 0.0f;
    return;
  }
  const float* in = p.src + row * p.width;
  for (int64_t j = threadIdx.x; j < p.width; j += blockDim.x) out[j] = in[j];
}

__global__ void DequantizeKernel(WeightView w, int64_t row_stride, float* out) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= w.rows * w.cols) return;
  const int64_t r = idx / w.cols, i = idx % w.cols;
  out[idx] = WeightElement(w.format, static_cast<const uint8_t*>(w.data) + r * row_stride, i);
}

__global__ void ConvertToHalfKernel(const float* x, int64_t n, bool bf16, uint16_t* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x[i]))
                : __half_as_ushort(__float2half_rn(x[i]));
}

// (value, id) pairs: larger value wins, then the lower id; NaN never wins.
__device__ __forceinline__ void KeepBetter(float& best, int32_t& best_id, float v, int32_t id) {
  if (v != v) return;
  if (best_id < 0 || v > best || (v == best && id < best_id)) {
    best = v;
    best_id = id;
  }
}

// One block per row.
__global__ void ArgmaxKernel(const float* logits, int64_t vocab, int32_t* token_ids) {
  const float* row = logits + blockIdx.x * vocab;
  float best = 0.0f;
  int32_t best_id = -1;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    KeepBetter(best, best_id, row[i], static_cast<int32_t>(i));
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const int32_t id = __shfl_xor_sync(0xffffffffu, best_id, offset);
    if (id >= 0) KeepBetter(best, best_id, v, id);
  }
  __shared__ float values[kThreads / 32];
  __shared__ int32_t ids[kThreads / 32];
  if (threadIdx.x % 32 == 0) {
    values[threadIdx.x / 32] = best;
    ids[threadIdx.x / 32] = best_id;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 0; w < kThreads / 32; ++w) {
    if (ids[w] >= 0) KeepBetter(best, best_id, values[w], ids[w]);
  }
  token_ids[blockIdx.x] = best_id < 0 ? 0 : best_id;  // all NaN: token 0
}

}  // namespace

absl::Status LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.num_tokens == 0) return absl::OkStatus();
  RmsNormKernel<<<static_cast<unsigned>(p.num_tokens), kThreads, 0, stream>>>(p.x, p.weight, p.y,
                                                                              p.dim, p.eps);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchRope(const RopeParams& p, const RopeFrequencies& freq, cudaStream_t stream) {
  const int64_t n = p.num_tokens * (p.num_q_heads + p.num_kv_heads) * (p.head_dim / 2);
  if (n == 0) return absl::OkStatus();
  RopeKernel<<<GridFor(n), kThreads, 0, stream>>>(p, freq);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream) {
  const int64_t n = p.num_tokens * p.dim;
  if (n == 0) return absl::OkStatus();
  SwiGluKernel<<<GridFor(n), kThreads, 0, stream>>>(p.gate, p.up, p.out, n);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchAdd(float* x, const float* delta, int64_t n, cudaStream_t stream) {
  if (n == 0) return absl::OkStatus();
  AddKernel<<<GridFor(n), kThreads, 0, stream>>>(x, delta, n);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchEmbedding(const EmbeddingParams& p, DeviceErrorWord errors,
                             cudaStream_t stream) {
  if (p.num_tokens == 0) return absl::OkStatus();
  EmbeddingKernel<<<static_cast<unsigned>(p.num_tokens), kThreads, 0, stream>>>(
      p, RowStride(p.table), errors);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchGatherRows(const GatherRowsParams& p, DeviceErrorWord errors,
                              cudaStream_t stream) {
  if (p.num_rows == 0 || p.width == 0) return absl::OkStatus();
  GatherRowsKernel<<<static_cast<unsigned>(p.num_rows), kThreads, 0, stream>>>(p, errors);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchDequantizeWeight(const WeightView& w, float* out, cudaStream_t stream) {
  const int64_t n = w.rows * w.cols;
  if (n == 0) return absl::OkStatus();
  DequantizeKernel<<<GridFor(n), kThreads, 0, stream>>>(w, RowStride(w), out);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchConvertToHalf(const float* x, int64_t n, bool bf16, void* out,
                                 cudaStream_t stream) {
  if (n == 0) return absl::OkStatus();
  ConvertToHalfKernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, bf16, static_cast<uint16_t*>(out));
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int32_t* token_ids,
                              cudaStream_t stream) {
  if (rows == 0) return absl::OkStatus();
  ArgmaxKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, vocab, token_ids);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace gqa::cuda
