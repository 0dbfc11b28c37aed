// KV cache writes and block copies on the device. WriteKv stores each
// (token, KV head) row in the cache dtype; FP8 rows are divided by their own
// scale (max|x| over finite values / the dtype's max finite, nudged up as in
// core/fp8.h's Fp8ScaleFor) and encoded round-to-nearest-even with
// saturation (__NV_SATFINITE, which core/fp8.h follows), so the bytes equal
// the CPU backend's. CopyKvBlocks validates all pairs on the device first and
// copies nothing when one is bad.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/cuda/cuda_status.h"

namespace gqa::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
// core/fp8.h's kFp8E4M3Max and kFp8E5M2Max (that header needs C++20, nvcc builds C++17).
constexpr float kE4M3Max = 448.0f, kE5M2Max = 57344.0f;

__device__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// One warp per (token, KV head).
__global__ void WriteKvKernel(KvWriteParams p, DeviceErrorWord errors) {
  const PagedKvView& c = p.cache;
  const int64_t task = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (task >= p.num_tokens * c.num_kv_heads) return;
  const int64_t t = task / c.num_kv_heads, h = task % c.num_kv_heads;
  const int64_t slot =
      p.head_slot_mapping != nullptr ? p.head_slot_mapping[task] : p.slot_mapping[t];
  if (slot < 0 || slot >= c.num_blocks * c.block_size) {
    if (lane == 0) RecordDeviceError(errors, DeviceErrorCode::kSlotOutOfRange, t, h, slot);
    return;
  }
  const int64_t block = slot / c.block_size, offset = slot % c.block_size;
  const int64_t scale_idx = (block * c.num_kv_heads + h) * c.block_size + offset;
  const int64_t dim = c.head_dim;
  for (int which = 0; which < 2; ++which) {
    const float* x = (which == 0 ? p.k : p.v) + task * dim;
    void* base = which == 0 ? c.k : c.v;
    const int64_t idx = scale_idx * dim;
    if (c.dtype == DType::kFp8E4M3 || c.dtype == DType::kFp8E5M2) {
      const float max_finite = c.dtype == DType::kFp8E4M3 ? kE4M3Max : kE5M2Max;
      float amax = 0.0f;
      for (int64_t i = lane; i < dim; i += 32) {
        const float a = fabsf(x[i]);
        if (a <= FLT_MAX) amax = fmaxf(amax, a);
      }
      amax = WarpMax(amax);
      float scale = 1.0f;
      if (amax != 0.0f) {
        scale = fmaxf(__fdiv_rn(amax, max_finite), FLT_MIN);
        while (__fdiv_rn(amax, scale) > max_finite) scale = nextafterf(scale, INFINITY);
      }
      const __nv_fp8_interpretation_t kind = c.dtype == DType::kFp8E4M3 ? __NV_E4M3 : __NV_E5M2;
      uint8_t* codes = static_cast<uint8_t*>(base) + idx;
      for (int64_t i = lane; i < dim; i += 32) {
        codes[i] = __nv_cvt_float_to_fp8(__fdiv_rn(x[i], scale), __NV_SATFINITE, kind);
      }
      if (lane == 0) (which == 0 ? c.k_scale : c.v_scale)[scale_idx] = scale;
    } else if (c.dtype == DType::kF32) {
      float* out = static_cast<float*>(base) + idx;
      for (int64_t i = lane; i < dim; i += 32) out[i] = x[i];
    } else if (c.dtype == DType::kF16) {
      __half* out = static_cast<__half*>(base) + idx;
      for (int64_t i = lane; i < dim; i += 32) out[i] = __float2half_rn(x[i]);
    } else {
      __nv_bfloat16* out = static_cast<__nv_bfloat16*>(base) + idx;
      for (int64_t i = lane; i < dim; i += 32) out[i] = __float2bfloat16_rn(x[i]);
    }
  }
}

// One thread per pair: range, "destination is a source" and "destination
// twice" checks (O(pairs^2); copy-on-write batches are small).
__global__ void ValidateCopyKernel(KvCopyParams p, DeviceErrorWord errors) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.num_pairs) return;
  const int32_t src = p.src_blocks[i], dst = p.dst_blocks[i];
  for (const int32_t id : {src, dst}) {
    if (id < 0 || id >= p.cache.num_blocks) {
      RecordDeviceError(errors, DeviceErrorCode::kCopyBlockOutOfRange, i, id, p.cache.num_blocks);
      return;
    }
  }
  for (int64_t j = 0; j < p.num_pairs; ++j) {
    if (p.src_blocks[j] == dst || (j != i && p.dst_blocks[j] == dst)) {
      RecordDeviceError(errors, DeviceErrorCode::kCopyBlockConflict, i, dst, 0);
      return;
    }
  }
}

// Block (pair, array): array 0/1 copies K/V as 16-byte words, 2/3 the scales.
__global__ void CopyBlocksKernel(KvCopyParams p, int64_t block_words, int64_t scale_count,
                                 DeviceErrorWord errors) {
  if (errors.word != nullptr && *reinterpret_cast<volatile long long*>(errors.word) != 0) return;
  const int64_t src = p.src_blocks[blockIdx.x], dst = p.dst_blocks[blockIdx.x];
  const int which = blockIdx.y;
  if (which < 2) {
    uint4* base = static_cast<uint4*>(which == 0 ? p.cache.k : p.cache.v);
    for (int64_t i = threadIdx.x; i < block_words; i += blockDim.x) {
      base[dst * block_words + i] = base[src * block_words + i];
    }
  } else {
    float* scales = which == 2 ? p.cache.k_scale : p.cache.v_scale;
    for (int64_t i = threadIdx.x; i < scale_count; i += blockDim.x) {
      scales[dst * scale_count + i] = scales[src * scale_count + i];
    }
  }
}

}  // namespace

absl::Status LaunchWriteKv(const KvWriteParams& p, DeviceErrorWord errors, cudaStream_t stream) {
  const int64_t tasks = p.num_tokens * p.cache.num_kv_heads;
  if (tasks == 0) return absl::OkStatus();
  const auto blocks = static_cast<unsigned>((tasks + kWarpsPerBlock - 1) / kWarpsPerBlock);
  WriteKvKernel<<<blocks, kWarpsPerBlock * 32, 0, stream>>>(p, errors);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

absl::Status LaunchCopyKvBlocks(const KvCopyParams& p, DeviceErrorWord errors,
                                cudaStream_t stream) {
  if (p.num_pairs == 0) return absl::OkStatus();
  const PagedKvView& c = p.cache;
  const int64_t block_bytes = c.num_kv_heads * c.block_size * c.head_dim * DTypeSize(c.dtype);
  if (block_bytes % 16 != 0) {
    return absl::UnimplementedError(absl::StrCat("KV block copy: blocks of ", block_bytes,
                                                 " bytes are not whole 16-byte words"));
  }
  const auto pairs = static_cast<unsigned>(p.num_pairs);
  ValidateCopyKernel<<<(pairs + 127) / 128, 128, 0, stream>>>(p, errors);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  const unsigned arrays = IsFp8(c.dtype) ? 4 : 2;
  CopyBlocksKernel<<<dim3(pairs, arrays), 256, 0, stream>>>(p, block_bytes / 16,
                                                            c.num_kv_heads * c.block_size, errors);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return absl::OkStatus();
}

}  // namespace gqa::cuda
