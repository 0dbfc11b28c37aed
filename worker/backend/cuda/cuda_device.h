// Device discovery and library versions for the CUDA backend. Exposes no CUDA
// types, so CPU-only code (tools, tests) can ask "is there a GPU?" safely.
// Without a GPU every query returns UNAVAILABLE (the CUDA runtime reports
// error 35 or 100 then; both mean "no device here"). Thread-safe.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_DEVICE_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_DEVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gqa::cuda {

struct CudaDeviceInfo {
  int device_idx = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int64_t memory_bytes = 0;
  int num_sms = 0;
};

// UNAVAILABLE when no usable device exists.
absl::StatusOr<std::vector<CudaDeviceInfo>> ListCudaDevices();

// "cudart=13000 cublas=130000 nccl=22800": works without a GPU.
std::string CudaLibraryVersions();

// Writes `value` into `count` floats on device `device_idx` with a kernel and
// reads them back: a smoke check that kernels launch. UNAVAILABLE without a GPU.
absl::StatusOr<std::vector<float>> FillOnDeviceForTesting(int device_idx, int64_t count,
                                                          float value);

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_DEVICE_H_
