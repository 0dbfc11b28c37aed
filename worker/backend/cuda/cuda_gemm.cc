#include <cstdint>

#include "absl/strings/str_cat.h"
#include "worker/backend/cuda/cuda_ops.h"

namespace gqa::cuda {

absl::Status RunGemm(const GemmParams& p, cublasHandle_t cublas, Scratch& scratch,
                     cudaStream_t stream) {
  const WeightView& w = p.w;
  if (w.cols % BlockElems(w.format) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("gemm: ", w.cols, " columns are not whole ",
                                                   WeightFormatName(w.format), " blocks"));
  }
  if (p.num_tokens < 0 || w.rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gemm: negative shape num_tokens=", p.num_tokens, " rows=", w.rows));
  }
  if (p.num_tokens == 0 || w.rows == 0) return absl::OkStatus();
  if (p.x == nullptr || p.y == nullptr || w.data == nullptr) {
    return absl::InvalidArgumentError("gemm: null x, y or weight pointer");
  }
  const int64_t stride = w.row_stride_bytes != 0 ? w.row_stride_bytes : RowBytes(w.format, w.cols);
  const int m = static_cast<int>(w.rows), n = static_cast<int>(p.num_tokens);
  const int k = static_cast<int>(w.cols);
  const float alpha = 1.0f, beta = p.accumulate ? 1.0f : 0.0f;
  // Column-major view: y^T [rows, tokens] = W [rows, cols] x^T [cols, tokens],
  // W being row-major [rows, stride] = column-major [stride, rows], hence OP_T.
  switch (w.format) {
    case WeightFormat::kF32: {
      if (stride % 4 != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("gemm: f32 row stride ", stride, " bytes is not whole floats"));
      }
      GQA_CUDA_RETURN_IF_ERROR(cublasSgemm(cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha,
                                           static_cast<const float*>(w.data),
                                           static_cast<int>(stride / 4), p.x, k, &beta, p.y, m));
      return absl::OkStatus();
    }
    case WeightFormat::kF16:
    case WeightFormat::kBF16: {
      if (stride % 2 != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("gemm: 16-bit row stride ", stride, " bytes is odd"));
      }
      const bool bf16 = w.format == WeightFormat::kBF16;
      auto x16 = scratch.Get(p.num_tokens * w.cols * 2);
      if (!x16.ok()) return x16.status();
      if (absl::Status s = LaunchConvertToHalf(p.x, p.num_tokens * w.cols, bf16, *x16, stream);
          !s.ok()) {
        return s;
      }
      const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
      GQA_CUDA_RETURN_IF_ERROR(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha,
                                            w.data, type, static_cast<int>(stride / 2), *x16, type,
                                            k, &beta, p.y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
      return absl::OkStatus();
    }
    default: {
      auto dense = scratch.Get(w.rows * w.cols * 4);
      if (!dense.ok()) return dense.status();
      float* weight = static_cast<float*>(*dense);
      if (absl::Status s = LaunchDequantizeWeight(w, weight, stream); !s.ok()) return s;
      GQA_CUDA_RETURN_IF_ERROR(cublasSgemm(cublas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha,
                                           weight, k, p.x, k, &beta, p.y, m));
      return absl::OkStatus();
    }
  }
}

}  // namespace gqa::cuda
