// Backend: the one set of operations the engine runs a forward pass with
// (ggml's ggml_backend_i). The CPU backend runs everywhere and is the oracle;
// the CUDA backend implements the same ops on the same params.h structs.
// Ops are asynchronous where the device is; Synchronize() waits. Each returns
// INVALID_ARGUMENT for malformed params and UNIMPLEMENTED, naming the shape,
// for shapes it does not support. Thread-compatible: one engine thread owns it.
#ifndef GQA_WORKER_BACKEND_BACKEND_H_
#define GQA_WORKER_BACKEND_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/backend/params.h"

namespace gqa {

// Memory owned by a backend (host for CPU, device for CUDA). Move-only.
class BackendBuffer {
 public:
  virtual ~BackendBuffer() = default;
  virtual void* data() = 0;
  virtual int64_t size_bytes() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual absl::string_view name() const = 0;

  // True when the backend's memory is the host's (the CPU backend): the
  // engine then reads weights from the model file's mapping and the step's
  // arrays from the host without copying them.
  virtual bool memory_is_host() const = 0;

  // Zero-initialized memory for activations and the KV cache.
  // RESOURCE_EXHAUSTED when it cannot be had.
  virtual absl::StatusOr<std::unique_ptr<BackendBuffer>> Allocate(int64_t size_bytes) = 0;

  virtual absl::Status Gemm(const GemmParams& params) = 0;
  virtual absl::Status Embedding(const EmbeddingParams& params) = 0;
  virtual absl::Status RmsNorm(const RmsNormParams& params) = 0;
  virtual absl::Status Rope(const RopeParams& params) = 0;
  virtual absl::Status SwiGlu(const SwiGluParams& params) = 0;
  // x += delta, elementwise over n floats.
  virtual absl::Status Add(float* x, const float* delta, int64_t n) = 0;
  virtual absl::Status WriteKv(const KvWriteParams& params) = 0;
  virtual absl::Status CopyKvBlocks(const KvCopyParams& params) = 0;
  // Prefill and decode tokens alike (the CPU computes each query token the
  // same way whatever its batch, which makes results batch-invariant).
  virtual absl::Status PagedAttention(const AttentionParams& params) = 0;
  virtual absl::Status Synchronize() = 0;

  // Copies between the host and this backend's memory (CPU: memcpy). A copy
  // from the host returns once `host_src` may be reused; a copy to the host
  // waits for every op before it and returns once `host_dst` holds the bytes
  // (it reports nothing of earlier ops' errors: Synchronize() does).
  virtual absl::Status CopyFromHost(void* dst, const void* host_src, int64_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) = 0;
  // Within this backend's memory, ordered with the ops: dst = src, dst = 0.
  virtual absl::Status CopyWithin(void* dst, const void* src, int64_t bytes) = 0;
  virtual absl::Status SetZero(void* dst, int64_t bytes) = 0;
  // dst[i] = src[rows[i]] (the logit tokens' rows before the LM head).
  virtual absl::Status GatherRows(const GatherRowsParams& params) = 0;

  // Step capture (CUDA graphs), where supports_capture(): the ops between
  // BeginCapture() and EndCapture() are recorded, not run, and Replay(id)
  // runs the recording with the same pointers and shapes (the memory they
  // point at may hold new values). A recording may point at the backend's
  // own scratch: it is valid only while memory_epoch() is what it was at
  // capture (the backend changes it whenever it reallocates scratch).
  // Elsewhere UNIMPLEMENTED.
  virtual bool supports_capture() const { return false; }
  virtual int64_t memory_epoch() const { return 0; }
  virtual absl::Status BeginCapture() { return absl::UnimplementedError("no step capture"); }
  virtual absl::StatusOr<int64_t> EndCapture() {
    return absl::UnimplementedError("no step capture");
  }
  virtual absl::Status Replay(int64_t id) { return absl::UnimplementedError("no step capture"); }
  virtual void ReleaseCapture(int64_t id) {}
};

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_BACKEND_H_
