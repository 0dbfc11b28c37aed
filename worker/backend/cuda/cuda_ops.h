// Host-side halves of the CUDA backend's larger ops: the GEMM (which cuBLAS
// call, which conversion first) and paged attention (host checks, the
// split-KV plan, scratch carving). Used by cuda_backend.cc; names CUDA types.
// Thread-compatible: one stream and scratch per caller.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_OPS_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_OPS_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "worker/backend/cuda/cuda_handles.h"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/params.h"

namespace gqa::cuda {

// y = x W^T (+ y). F32 weights: cublasSgemm in f32. F16/BF16 weights: x
// rounded to the weight's type, cublasGemmEx with f32 accumulation (tensor
// cores). Q8_0/Q4_0/Q4_1: the weight dequantized to f32 in `scratch`, then
// cublasSgemm. INVALID_ARGUMENT for partial blocks or a misaligned stride.
absl::Status RunGemm(const GemmParams& p, cublasHandle_t cublas, Scratch& scratch,
                     cudaStream_t stream);

// The split-KV partition: enough thread blocks for `num_sms` multiprocessors
// (about 4 per SM), computed from host-known numbers only (the token count,
// heads and max_blocks_per_seq; each token then splits its own context).
// query_tile: 0 picks the kernel (the prefill kernel with 32 / group tokens
// per block when the batch has more tokens than sequences and the group is
// at most 16, else the decode kernel); 1 forces the decode kernel.
AttentionPlan PlanAttention(const AttentionParams& p, int num_sms, int query_tile);

// Checks what the host can check (as the CPU backend does), plans, carves
// the plan's buffers from `scratch` and launches.
absl::Status RunAttention(const AttentionParams& p, int num_sms, int query_tile, Scratch& scratch,
                          DeviceErrorWord errors, cudaStream_t stream);

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_OPS_H_
