#include "worker/backend/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/backend/cpu/rope.h"
#include "worker/backend/cuda/cuda_handles.h"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/cuda/cuda_ops.h"
#include "worker/backend/cuda/cuda_status.h"
#include "worker/backend/cuda/device_errors.h"
#include "worker/backend/kv_view_check.h"

namespace gqa {
namespace {

using cuda::CublasHandle;
using cuda::CudaStream;
using cuda::DeviceMemory;
using cuda::Scratch;

class DeviceBuffer : public BackendBuffer {
 public:
  explicit DeviceBuffer(DeviceMemory memory) : memory_(std::move(memory)) {}
  void* data() override { return memory_.data(); }
  int64_t size_bytes() const override { return memory_.size_bytes(); }

 private:
  DeviceMemory memory_;  // move-only, so this buffer is too
};

class CudaBackendImpl : public CudaBackend {
 public:
  CudaBackendImpl(const CudaBackendOptions& options, cuda::CudaDeviceInfo device, CudaStream stream,
                  CublasHandle cublas, DeviceMemory error_word)
      : options_(options),
        device_(std::move(device)),
        stream_(std::move(stream)),
        cublas_(std::move(cublas)),
        error_word_(std::move(error_word)) {}

  absl::string_view name() const override { return "cuda"; }
  bool memory_is_host() const override { return false; }
  const cuda::CudaDeviceInfo& device() const override { return device_; }

  absl::StatusOr<std::unique_ptr<BackendBuffer>> Allocate(int64_t size_bytes) override {
    if (size_bytes < 0) return absl::InvalidArgumentError("negative allocation size");
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    auto memory = DeviceMemory::Allocate(size_bytes);
    if (!memory.ok()) return memory.status();
    return std::make_unique<DeviceBuffer>(std::move(*memory));
  }

  absl::Status CopyToDevice(void* device_dst, const void* host_src, int64_t bytes) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (bytes == 0) return absl::OkStatus();
    // On the backend's own stream: a plain cudaMemcpy from pageable memory may
    // return before its DMA lands, unordered with the non-blocking stream.
    GQA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream_.get()));
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
    return absl::OkStatus();
  }

  absl::Status CopyFromHost(void* dst, const void* host_src, int64_t bytes) override {
    return CopyToDevice(dst, host_src, bytes);
  }

  absl::Status CopyToHost(void* host_dst, const void* device_src, int64_t bytes) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (bytes == 0) return absl::OkStatus();
    GQA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream_.get()));
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
    return absl::OkStatus();
  }

  absl::Status CopyWithin(void* dst, const void* src, int64_t bytes) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("copy of ", bytes, " bytes"));
    if (bytes == 0 || dst == src) return absl::OkStatus();
    GQA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_.get()));
    return absl::OkStatus();
  }

  absl::Status SetZero(void* dst, int64_t bytes) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("zeroing ", bytes, " bytes"));
    if (bytes == 0) return absl::OkStatus();
    GQA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dst, 0, bytes, stream_.get()));
    return absl::OkStatus();
  }

  absl::Status GatherRows(const GatherRowsParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (p.num_rows < 0 || p.width < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("gather: num_rows=", p.num_rows, " width=", p.width));
    }
    return cuda::LaunchGatherRows(p, errors(), stream_.get());
  }

  absl::Status Gemm(const GemmParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    return cuda::RunGemm(p, cublas_.get(), gemm_scratch_, stream_.get());
  }

  absl::Status Embedding(const EmbeddingParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (p.table.cols % BlockElems(p.table.format) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("embedding: ", p.table.cols, " columns are not whole blocks"));
    }
    return cuda::LaunchEmbedding(p, errors(), stream_.get());
  }

  absl::Status RmsNorm(const RmsNormParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (p.dim <= 0 && p.num_tokens > 0) {
      return absl::InvalidArgumentError(absl::StrCat("rms norm: dim=", p.dim));
    }
    return cuda::LaunchRmsNorm(p, stream_.get());
  }

  absl::Status Rope(const RopeParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    auto inv_freq = cpu::RopeInverseFrequencies(p.head_dim, p.theta, p.scaling);
    if (!inv_freq.ok()) return inv_freq.status();
    if (static_cast<int64_t>(inv_freq->size()) > cuda::kMaxRopePairs) {
      return absl::UnimplementedError(absl::StrCat(
          "rope: head_dim=", p.head_dim, " above the CUDA limit ", 2 * cuda::kMaxRopePairs));
    }
    cuda::RopeFrequencies freq{};
    std::memcpy(freq.inv_freq, inv_freq->data(), inv_freq->size() * sizeof(double));
    return cuda::LaunchRope(p, freq, stream_.get());
  }

  absl::Status SwiGlu(const SwiGluParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    return cuda::LaunchSwiGlu(p, stream_.get());
  }

  absl::Status Add(float* x, const float* delta, int64_t n) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    return cuda::LaunchAdd(x, delta, n, stream_.get());
  }

  absl::Status WriteKv(const KvWriteParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (absl::Status s = ValidatePagedKvView(p.cache, "KV write"); !s.ok()) return s;
    if (p.num_tokens > 0 && (p.k == nullptr || p.v == nullptr ||
                             (p.slot_mapping == nullptr && p.head_slot_mapping == nullptr))) {
      return absl::InvalidArgumentError("KV write: null k, v or slot mapping");
    }
    return cuda::LaunchWriteKv(p, errors(), stream_.get());
  }

  absl::Status CopyKvBlocks(const KvCopyParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (absl::Status s = ValidatePagedKvView(p.cache, "KV block copy"); !s.ok()) return s;
    if (p.num_pairs < 0 ||
        (p.num_pairs > 0 && (p.src_blocks == nullptr || p.dst_blocks == nullptr))) {
      return absl::InvalidArgumentError(
          absl::StrCat("KV block copy: ", p.num_pairs, " pairs without block arrays"));
    }
    return cuda::LaunchCopyKvBlocks(p, errors(), stream_.get());
  }

  absl::Status PagedAttention(const AttentionParams& p) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    return cuda::RunAttention(p, device_.num_sms, options_.attention_query_tile, attention_scratch_,
                              errors(), stream_.get());
  }

  absl::Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab,
                          int32_t* token_ids) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    if (vocab <= 0 || rows < 0) {
      return absl::InvalidArgumentError(absl::StrCat("argmax: rows=", rows, " vocab=", vocab));
    }
    return cuda::LaunchArgmaxRows(logits, rows, vocab, token_ids, stream_.get());
  }

  bool supports_capture() const override { return true; }
  int64_t memory_epoch() const override {
    return gemm_scratch_.generation() + attention_scratch_.generation();
  }

  // Thread-local capture mode: the engine thread's own stream only; a
  // cudaMalloc during capture (scratch growth) fails the capture instead of
  // being recorded, so callers run a shape eagerly before capturing it.
  absl::Status BeginCapture() override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    GQA_CUDA_RETURN_IF_ERROR(
        cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> EndCapture() override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    cudaGraph_t graph = nullptr;
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamEndCapture(stream_.get(), &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    GQA_CUDA_RETURN_IF_ERROR(instantiated);
    const int64_t id = next_capture_id_++;
    captures_[id] = exec;
    return id;
  }

  absl::Status Replay(int64_t id) override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    auto it = captures_.find(id);
    if (it == captures_.end()) {
      return absl::NotFoundError(absl::StrCat("replay: no capture ", id));
    }
    GQA_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(it->second, stream_.get()));
    return absl::OkStatus();
  }

  void ReleaseCapture(int64_t id) override {
    auto it = captures_.find(id);
    if (it == captures_.end()) return;
    (void)cudaGraphExecDestroy(it->second);
    captures_.erase(it);
  }

  ~CudaBackendImpl() override {
    for (auto& [id, exec] : captures_) (void)cudaGraphExecDestroy(exec);
  }

  // Waits for the stream, then reports the first device-side error since the
  // last call (and clears it).
  absl::Status Synchronize() override {
    if (absl::Status s = SetDevice(); !s.ok()) return s;
    long long word[4] = {0, 0, 0, 0};
    GQA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(word, error_word_.data(), sizeof(word),
                                             cudaMemcpyDeviceToHost, stream_.get()));
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
    if (word[0] == 0) return absl::OkStatus();
    GQA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(error_word_.data(), 0, sizeof(word), stream_.get()));
    GQA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_.get()));
    return absl::InvalidArgumentError(cuda::DescribeDeviceError(word));
  }

 private:
  cuda::DeviceErrorWord errors() const { return {static_cast<long long*>(error_word_.data())}; }
  // The engine thread may not be the one that created the backend.
  absl::Status SetDevice() const {
    GQA_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_.device_idx));
    return absl::OkStatus();
  }

  const CudaBackendOptions options_;
  cuda::CudaDeviceInfo device_;
  CudaStream stream_;
  CublasHandle cublas_;
  DeviceMemory error_word_;  // [4] long long: device_errors.h
  Scratch gemm_scratch_;
  Scratch attention_scratch_;
  std::map<int64_t, cudaGraphExec_t> captures_;  // Replay ids
  int64_t next_capture_id_ = 1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CudaBackend>> MakeCudaBackend(const CudaBackendOptions& options) {
  auto devices = cuda::ListCudaDevices();
  if (!devices.ok()) {
    return absl::UnavailableError(absl::StrCat(devices.status().message(),
                                               "; the CUDA backend needs a GPU (use the CPU "
                                               "backend on this machine)"));
  }
  if (options.device_idx < 0 || options.device_idx >= static_cast<int>(devices->size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CUDA device ", options.device_idx, " does not exist; this machine has ", devices->size()));
  }
  GQA_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device_idx));
  auto stream = CudaStream::Create();
  if (!stream.ok()) return stream.status();
  auto cublas = CublasHandle::Create(stream->get());
  if (!cublas.ok()) return cublas.status();
  auto error_word = DeviceMemory::Allocate(4 * sizeof(long long));
  if (!error_word.ok()) return error_word.status();
  if (options.attention_query_tile < 0 || options.attention_query_tile > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention_query_tile=", options.attention_query_tile,
                     " must be 0 (automatic) or 1 (decode kernel)"));
  }
  return std::make_unique<CudaBackendImpl>(options, (*devices)[options.device_idx],
                                           std::move(*stream), std::move(*cublas),
                                           std::move(*error_word));
}

}  // namespace gqa
