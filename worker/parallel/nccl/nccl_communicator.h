// NcclCommunicator: the GPU Communicator over NCCL, one CUDA device per rank.
// Ranks meet through the same TcpStore as Gloo (rank 0 publishes the NCCL
// unique id on --tp-addr). The communicator is non-blocking: every call is
// enqueued on the rank's stream and then waited for with a deadline, polling
// NCCL's async error; on a timeout or a peer's failure the communicator is
// aborted (ncclCommAbort) and every later call returns UNAVAILABLE. Spans may
// be device memory (used in place) or host memory (staged through a device
// buffer). No CUDA type in this header (STYLE.md). Built only with CUDA;
// compiled here, never run (no GPU on the development machines).
// Thread-compatible (one thread per rank).
#ifndef GQA_WORKER_PARALLEL_NCCL_NCCL_COMMUNICATOR_H_
#define GQA_WORKER_PARALLEL_NCCL_NCCL_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/parallel/communicator.h"

namespace gqa {

struct NcclOptions {
  int rank = 0;
  int size = 1;
  int device = 0;  // the CUDA device of this rank
  // HOST:PORT of the rendezvous store (rank 0's --tp-addr).
  std::string store_address = "127.0.0.1:29400";
  bool host_store = true;  // rank 0 starts the store; false when a test hosts it
  // Bound on the rendezvous and on every collective. Default 10 s.
  std::chrono::milliseconds timeout{10000};
};

class NcclCommunicator : public Communicator {
 public:
  // INVALID_ARGUMENT for a bad rank/size; UNAVAILABLE when the device or
  // NCCL fails; DEADLINE_EXCEEDED when the group does not form in time.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(const NcclOptions& options);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::Status AllReduceSum(absl::Span<float> data) override;
  absl::Status AllGather(absl::Span<const uint8_t> in, absl::Span<uint8_t> out) override;
  absl::Status Broadcast(absl::Span<uint8_t> data, int root) override;
  absl::Status Barrier() override;

 private:
  struct Impl;  // NCCL and CUDA handles
  NcclCommunicator(int rank, int size, std::unique_ptr<Impl> impl);

  const int rank_;
  const int size_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_NCCL_NCCL_COMMUNICATOR_H_
