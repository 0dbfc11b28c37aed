#include "worker/parallel/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/log.h"
#include "core/status.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

constexpr char kUniqueIdKey[] = "gqa_nccl_unique_id";

absl::Status CudaError(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("tp nccl: ", what, ": ", cudaGetErrorString(error)));
}

absl::Status NcclError(ncclResult_t result, const char* what) {
  if (result == ncclSuccess || result == ncclInProgress) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("tp nccl: ", what, ": ", ncclGetErrorString(result),
                                             " (a peer rank may be gone)"));
}

}  // namespace

struct NcclCommunicator::Impl {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  std::chrono::milliseconds timeout{0};
  void* scratch = nullptr;  // device staging for host spans
  size_t scratch_bytes = 0;
  absl::Status broken;

  ~Impl() {
    if (scratch != nullptr) cudaFree(scratch);
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (comm != nullptr) {
      if (broken.ok()) {
        ncclCommDestroy(comm);
      } else {
        ncclCommAbort(comm);
      }
    }
  }

  // Waits for NCCL's state (after init) or the stream (after a collective),
  // sleeping between checks; aborts the communicator on failure or timeout.
  absl::Status Wait(const char* what, bool init) {
    const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
    while (true) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm, &async);
      absl::Status failed;
      if (async != ncclSuccess && async != ncclInProgress) {
        failed = NcclError(async, what);
      } else if (init ? async == ncclSuccess : cudaStreamQuery(stream) == cudaSuccess) {
        return absl::OkStatus();
      } else if (!init && cudaStreamQuery(stream) != cudaErrorNotReady) {
        failed = CudaError(cudaStreamQuery(stream), what);
      } else if (absl::Now() > deadline) {
        failed = absl::DeadlineExceededError(absl::StrCat(
            "tp nccl: ", what, " timed out after ", timeout.count(), " ms (a peer rank is stuck or gone)"));
      }
      if (!failed.ok()) {
        broken = absl::UnavailableError(
            absl::StrCat("tp group broken by an earlier failure: ", failed.message()));
        return failed;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // A device pointer for `bytes` at `host_or_device`: itself when it is device
  // memory, else the scratch buffer (copied in when `copy_in`).
  absl::StatusOr<void*> Stage(const void* p, size_t bytes, size_t offset, bool copy_in,
                              size_t total) {
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, p) == cudaSuccess &&
        (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged)) {
      return const_cast<void*>(p);
    }
    cudaGetLastError();  // clear a lookup error for plain host memory
    if (scratch_bytes < total) {
      if (scratch != nullptr) cudaFree(scratch);
      scratch = nullptr;
      scratch_bytes = 0;
      RETURN_IF_ERROR(CudaError(cudaMalloc(&scratch, total), "cudaMalloc"));
      scratch_bytes = total;
    }
    void* staged = static_cast<char*>(scratch) + offset;
    if (copy_in) {
      RETURN_IF_ERROR(CudaError(
          cudaMemcpyAsync(staged, p, bytes, cudaMemcpyHostToDevice, stream), "copy in"));
    }
    return staged;
  }

  absl::Status CopyOut(void* host, const void* staged, size_t bytes) {
    if (host == staged) return absl::OkStatus();
    RETURN_IF_ERROR(CudaError(
        cudaMemcpyAsync(host, staged, bytes, cudaMemcpyDeviceToHost, stream), "copy out"));
    return Wait("copy out", /*init=*/false);
  }
};

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    const NcclOptions& options) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tp rank ", options.rank, " outside [0, ", options.size, ")"));
  }
  RETURN_IF_ERROR(CudaError(cudaSetDevice(options.device), "cudaSetDevice"));
  std::unique_ptr<TcpStoreServer> server;
  if (options.rank == 0 && options.host_store) {
    ASSIGN_OR_RETURN(server, TcpStoreServer::Start(options.store_address));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TcpStore> store,
                   TcpStore::Connect(options.store_address, options.timeout));
  ncclUniqueId id;
  try {
    if (options.rank == 0) {
      RETURN_IF_ERROR(NcclError(ncclGetUniqueId(&id), "ncclGetUniqueId"));
      store->set(kUniqueIdKey, std::vector<char>(id.internal, id.internal + sizeof(id.internal)));
    }
    const std::vector<char> bytes = store->get(kUniqueIdKey);
    if (bytes.size() != sizeof(id.internal)) {
      return absl::InvalidArgumentError("tp nccl: the store holds a malformed NCCL id");
    }
    std::memcpy(id.internal, bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    return absl::DeadlineExceededError(absl::StrCat("tp nccl rendezvous: ", e.what()));
  }
  auto impl = std::make_unique<Impl>();
  impl->timeout = options.timeout;
  RETURN_IF_ERROR(CudaError(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking),
                            "cudaStreamCreate"));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // lets Wait bound the init and every collective
  RETURN_IF_ERROR(NcclError(
      ncclCommInitRankConfig(&impl->comm, options.size, id, options.rank, &config),
      "ncclCommInitRankConfig"));
  RETURN_IF_ERROR(impl->Wait("init", /*init=*/true));
  std::unique_ptr<NcclCommunicator> comm(
      new NcclCommunicator(options.rank, options.size, std::move(impl)));
  RETURN_IF_ERROR(comm->Barrier());  // everyone read the id: the store may close
  LOG(INFO) << "tp nccl group joined rank=" << options.rank << " size=" << options.size
            << " device=" << options.device;
  return comm;
}

NcclCommunicator::NcclCommunicator(int rank, int size, std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), impl_(std::move(impl)) {}

NcclCommunicator::~NcclCommunicator() = default;

absl::Status NcclCommunicator::AllReduceSum(absl::Span<float> data) {
  RETURN_IF_ERROR(impl_->broken);
  if (data.empty()) return absl::OkStatus();
  const size_t bytes = data.size() * sizeof(float);
  ASSIGN_OR_RETURN(void* p, impl_->Stage(data.data(), bytes, 0, true, bytes));
  RETURN_IF_ERROR(NcclError(ncclAllReduce(p, p, data.size(), ncclFloat, ncclSum, impl_->comm,
                                          impl_->stream),
                            "all-reduce"));
  RETURN_IF_ERROR(impl_->Wait("all-reduce", /*init=*/false));
  return impl_->CopyOut(data.data(), p, bytes);
}

absl::Status NcclCommunicator::AllGather(absl::Span<const uint8_t> in, absl::Span<uint8_t> out) {
  RETURN_IF_ERROR(impl_->broken);
  if (out.size() != in.size() * static_cast<size_t>(size_)) {
    return absl::InvalidArgumentError(absl::StrCat("all-gather: output of ", out.size(),
                                                   " bytes for ", size_, " x ", in.size()));
  }
  if (in.empty()) return absl::OkStatus();
  const size_t total = in.size() + out.size();
  ASSIGN_OR_RETURN(void* send, impl_->Stage(in.data(), in.size(), 0, true, total));
  ASSIGN_OR_RETURN(void* recv, impl_->Stage(out.data(), out.size(), in.size(), false, total));
  RETURN_IF_ERROR(NcclError(
      ncclAllGather(send, recv, in.size(), ncclUint8, impl_->comm, impl_->stream), "all-gather"));
  RETURN_IF_ERROR(impl_->Wait("all-gather", /*init=*/false));
  return impl_->CopyOut(out.data(), recv, out.size());
}

absl::Status NcclCommunicator::Broadcast(absl::Span<uint8_t> data, int root) {
  RETURN_IF_ERROR(impl_->broken);
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(absl::StrCat("broadcast: root ", root, " outside the group"));
  }
  if (data.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(void* p, impl_->Stage(data.data(), data.size(), 0, rank_ == root, data.size()));
  RETURN_IF_ERROR(NcclError(
      ncclBroadcast(p, p, data.size(), ncclUint8, root, impl_->comm, impl_->stream), "broadcast"));
  RETURN_IF_ERROR(impl_->Wait("broadcast", /*init=*/false));
  return impl_->CopyOut(data.data(), p, data.size());
}

absl::Status NcclCommunicator::Barrier() {
  float one = 1.0f;
  return AllReduceSum(absl::MakeSpan(&one, 1));
}

}  // namespace gqa
