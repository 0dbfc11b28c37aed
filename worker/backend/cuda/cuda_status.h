// Turns cudaError_t / cublasStatus_t / ncclResult_t into absl::Status at the
// CUDA backend boundary (STYLE.md "Errors"). Included only by cuda/*.cu and
// cuda/*.cc: it pulls in CUDA headers.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_STATUS_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_STATUS_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gqa::cuda {

inline absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"));
}

inline absl::Status CudaStatus(cublasStatus_t error, const char* what) {
  if (error == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cublasGetStatusName(error)));
}

inline absl::Status CudaStatus(ncclResult_t error, const char* what) {
  if (error == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", ncclGetErrorString(error)));
}

}  // namespace gqa::cuda

#define GQA_CUDA_RETURN_IF_ERROR(expr)                                          \
  do {                                                                          \
    ::absl::Status gqa_cuda_status_ = ::gqa::cuda::CudaStatus((expr), #expr);   \
    if (!gqa_cuda_status_.ok()) return gqa_cuda_status_;                        \
  } while (false)

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_STATUS_H_
