// The only place where run-time shapes become template parameters of the
// CUDA kernels (STYLE.md "How the CPU and CUDA backends share an
// interface"): head_dim (64, 128, 256) and the KV cache's element type. The
// group size is never a template parameter: attention loops over the heads
// of a group tile at run time, and over group tiles in its grid. Included by
// cuda/*.cu only (it names CUDA element types). Header-only, stateless.
#ifndef GQA_WORKER_BACKEND_CUDA_DISPATCH_H_
#define GQA_WORKER_BACKEND_CUDA_DISPATCH_H_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"

namespace gqa::cuda {

// head_dim values with compiled attention kernels.
inline constexpr int kAttentionHeadDims[] = {64, 128, 256};

template <int kValue>
using IntConstant = std::integral_constant<int, kValue>;

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls f(IntConstant<head_dim>{}); UNIMPLEMENTED naming the head_dim when
// no kernel is compiled for it.
template <typename F>
absl::Status DispatchHeadDim(int64_t head_dim, const char* op, F&& f) {
  switch (head_dim) {
    case 64:
      return f(IntConstant<64>{});
    case 128:
      return f(IntConstant<128>{});
    case 256:
      return f(IntConstant<256>{});
    default:
      return absl::UnimplementedError(absl::StrCat(
          op, ": head_dim=", head_dim,
          " has no CUDA kernel (compiled: 64, 128, 256); use the CPU backend for this model"));
  }
}

// Calls f(TypeTag<element type>{}) for a KV cache dtype.
template <typename F>
absl::Status DispatchKvDType(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::kF32:
      return f(TypeTag<float>{});
    case DType::kF16:
      return f(TypeTag<__half>{});
    case DType::kBF16:
      return f(TypeTag<__nv_bfloat16>{});
    case DType::kFp8E4M3:
      return f(TypeTag<__nv_fp8_e4m3>{});
    case DType::kFp8E5M2:
      return f(TypeTag<__nv_fp8_e5m2>{});
  }
  return absl::InvalidArgumentError(absl::StrCat(op, ": unknown KV dtype"));
}

// Element -> f32, exact for every cache type.
__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float ToFloat(__nv_fp8_e4m3 x) { return static_cast<float>(x); }
__device__ __forceinline__ float ToFloat(__nv_fp8_e5m2 x) { return static_cast<float>(x); }

template <typename T>
inline constexpr bool kIsFp8 = std::is_same_v<T, __nv_fp8_e4m3> || std::is_same_v<T, __nv_fp8_e5m2>;

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_DISPATCH_H_
