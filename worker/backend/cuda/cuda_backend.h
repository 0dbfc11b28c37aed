// The CUDA backend: the Backend ops (backend.h) on one GPU, on one stream,
// with cuBLAS GEMMs and the kernels in cuda/*.cu. Every pointer in the params
// is device memory from Allocate(). Ops are asynchronous; errors that only the
// device can see (an out-of-range token id, slot or block table entry) come
// back as INVALID_ARGUMENT from the next Synchronize(). Exposes no CUDA types,
// so it is included like cpu_backend.h. Thread-compatible: one engine thread.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_BACKEND_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "worker/backend/backend.h"
#include "worker/backend/cuda/cuda_device.h"

namespace gqa {

struct CudaBackendOptions {
  // Which GPU (cudaSetDevice index). Default 0.
  int device_idx = 0;
  // Paged attention kernel: 0 picks one per call (the query-tiled prefill
  // kernel for batches with more tokens than sequences, else the decode
  // kernel); 1 always uses the decode kernel (tests compare both). Default 0.
  int attention_query_tile = 0;
};

class CudaBackend : public Backend {
 public:
  // Host -> device, synchronous (waits for the stream first); the same as
  // Backend::CopyFromHost. Backend::CopyToHost is the other direction.
  virtual absl::Status CopyToDevice(void* device_dst, const void* host_src, int64_t bytes) = 0;
  // token_ids[r] = argmax of logits row r (ties to the lowest id, as the host
  // sampler's greedy rule), for greedy decoding without copying logits back.
  // logits [rows, vocab] and token_ids [rows] are device memory.
  virtual absl::Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab,
                                  int32_t* token_ids) = 0;
  virtual const cuda::CudaDeviceInfo& device() const = 0;
};

// UNAVAILABLE (saying so, and to use --backend cpu) when there is no GPU;
// INVALID_ARGUMENT when options.device_idx is not a device.
absl::StatusOr<std::unique_ptr<CudaBackend>> MakeCudaBackend(const CudaBackendOptions& options);

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_BACKEND_H_
