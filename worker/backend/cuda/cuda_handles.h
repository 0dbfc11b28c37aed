// Move-only owners of CUDA resources for the CUDA backend: device memory, a
// grow-only scratch region, a stream and a cuBLAS handle. Each releases its
// resource in its destructor (errors there are ignored: nothing can be done).
// Included by cuda/*.cc and *.cu only (names CUDA types). Thread-compatible.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_HANDLES_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_HANDLES_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "worker/backend/cuda/cuda_status.h"

namespace gqa::cuda {

class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  DeviceMemory(DeviceMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_bytes_(std::exchange(other.size_bytes_, 0)) {}
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_bytes_, other.size_bytes_);
    return *this;
  }
  ~DeviceMemory() {
    if (data_ != nullptr) (void)cudaFree(data_);
  }

  // Zeroed device memory; RESOURCE_EXHAUSTED when the device has too little.
  static absl::StatusOr<DeviceMemory> Allocate(int64_t size_bytes) {
    DeviceMemory memory;
    if (size_bytes == 0) return memory;
    const cudaError_t error = cudaMalloc(&memory.data_, static_cast<size_t>(size_bytes));
    if (error != cudaSuccess) {
      (void)cudaGetLastError();
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot allocate ", size_bytes, " bytes of device memory: ", cudaGetErrorString(error)));
    }
    memory.size_bytes_ = size_bytes;
    // NOTE: cudaMemset runs on the legacy default stream, which does not
    // order the backend's non-blocking stream: wait for it here.
    GQA_CUDA_RETURN_IF_ERROR(cudaMemset(memory.data_, 0, static_cast<size_t>(size_bytes)));
    GQA_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    return memory;
  }

  void* data() const { return data_; }
  int64_t size_bytes() const { return size_bytes_; }

 private:
  void* data_ = nullptr;
  int64_t size_bytes_ = 0;
};

// Device memory reused by one kind of op from call to call, grown on demand.
// Valid until the next Get(); stream order keeps consecutive users apart.
class Scratch {
 public:
  absl::StatusOr<void*> Get(int64_t size_bytes) {
    if (size_bytes > memory_.size_bytes()) {
      memory_ = DeviceMemory();  // cudaFree waits for the device: earlier users are done
      ++generation_;
      auto grown = DeviceMemory::Allocate(size_bytes + size_bytes / 4);
      if (!grown.ok()) return grown.status();
      memory_ = std::move(*grown);
    }
    return memory_.data();
  }
  // How many times the memory was replaced (a captured graph pointing at it
  // is stale once this changes).
  int64_t generation() const { return generation_; }

 private:
  DeviceMemory memory_;
  int64_t generation_ = 0;
};

class CudaStream {
 public:
  CudaStream() = default;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  CudaStream(CudaStream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&& other) noexcept {
    std::swap(stream_, other.stream_);
    return *this;
  }
  ~CudaStream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  static absl::StatusOr<CudaStream> Create() {
    CudaStream s;
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s.stream_, cudaStreamNonBlocking));
    return s;
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~CublasHandle() {
    if (handle_ != nullptr) (void)cublasDestroy(handle_);
  }
  static absl::StatusOr<CublasHandle> Create(cudaStream_t stream) {
    CublasHandle h;
    GQA_CUDA_RETURN_IF_ERROR(cublasCreate(&h.handle_));
    GQA_CUDA_RETURN_IF_ERROR(cublasSetStream(h.handle_, stream));
    return h;
  }
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_HANDLES_H_
