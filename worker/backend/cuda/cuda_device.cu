#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include "absl/strings/str_cat.h"
#include "worker/backend/cuda/cuda_device.h"
#include "worker/backend/cuda/cuda_status.h"

namespace gqa::cuda {
namespace {

__global__ void FillKernel(float* out, int64_t count, float value) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < count) out[idx] = value;
}

// Checks the launch, then copies `device_values` into `host`.
absl::Status CopyBack(cudaError_t launch_error, const float* device_values,
                      std::vector<float>& host) {
  GQA_CUDA_RETURN_IF_ERROR(launch_error);
  GQA_CUDA_RETURN_IF_ERROR(cudaMemcpy(host.data(), device_values, host.size() * sizeof(float),
                                      cudaMemcpyDeviceToHost));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<CudaDeviceInfo>> ListCudaDevices() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device: ", error == cudaSuccess ? "device count is 0" : cudaGetErrorString(error)));
  }
  std::vector<CudaDeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    GQA_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, i));
    devices.push_back(CudaDeviceInfo{i, prop.name, prop.major, prop.minor,
                                     static_cast<int64_t>(prop.totalGlobalMem),
                                     prop.multiProcessorCount});
  }
  return devices;
}

std::string CudaLibraryVersions() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  int nccl = 0;
  ncclGetVersion(&nccl);
  return absl::StrCat("cudart=", runtime, " cublas=", cublas_major, ".", cublas_minor, ".",
                      cublas_patch, " nccl=", nccl);
}

absl::StatusOr<std::vector<float>> FillOnDeviceForTesting(int device_idx, int64_t count,
                                                          float value) {
  auto devices = ListCudaDevices();
  if (!devices.ok()) return devices.status();
  GQA_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_idx));
  float* buffer = nullptr;
  GQA_CUDA_RETURN_IF_ERROR(cudaMalloc(&buffer, count * sizeof(float)));
  constexpr int kThreads = 256;
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  FillKernel<<<static_cast<unsigned>(blocks), kThreads>>>(buffer, count, value);
  std::vector<float> host(count);
  const absl::Status status = CopyBack(cudaGetLastError(), buffer, host);
  (void)cudaFree(buffer);  // best effort: the status above is what matters
  if (!status.ok()) return status;
  return host;
}

}  // namespace gqa::cuda
