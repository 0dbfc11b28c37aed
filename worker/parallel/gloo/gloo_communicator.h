// GlooCommunicator: the CPU Communicator over Gloo's TCP transport. Ranks
// meet through a TcpStore on rank 0's --tp-addr (rank 0 hosts it), connect a
// full mesh, and then run ring collectives with a timeout each; a peer that
// dies closes its sockets, so its partners fail at once with UNAVAILABLE
// rather than waiting out the timeout. Gloo waits on sockets and condition
// variables, it never spins. Thread-compatible (one thread per rank).
#ifndef GQA_WORKER_PARALLEL_GLOO_GLOO_COMMUNICATOR_H_
#define GQA_WORKER_PARALLEL_GLOO_GLOO_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/parallel/communicator.h"

namespace gloo {
class Context;
}  // namespace gloo

namespace gqa {

struct GlooOptions {
  int rank = 0;
  int size = 1;
  // HOST:PORT of the rendezvous store (rank 0's --tp-addr).
  std::string store_address = "127.0.0.1:29400";
  // Rank 0 starts the store on store_address; false when a test hosts it.
  bool host_store = true;
  // Address this rank's Gloo pairs listen on; empty: the local address of the
  // connection to the store (reachable from rank 0's host by construction).
  std::string listen_host;
  // Bound on the rendezvous and on every collective. Default 10 s.
  std::chrono::milliseconds timeout{10000};
};

class GlooCommunicator : public Communicator {
 public:
  // Joins the group. INVALID_ARGUMENT for a bad rank/size/address,
  // UNAVAILABLE when the store cannot be started, DEADLINE_EXCEEDED when
  // some rank does not arrive within the timeout.
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(const GlooOptions& options);
  ~GlooCommunicator() override;
  GlooCommunicator(const GlooCommunicator&) = delete;
  GlooCommunicator& operator=(const GlooCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::Status AllReduceSum(absl::Span<float> data) override;
  absl::Status AllGather(absl::Span<const uint8_t> in, absl::Span<uint8_t> out) override;
  absl::Status Broadcast(absl::Span<uint8_t> data, int root) override;
  absl::Status Barrier() override;

 private:
  GlooCommunicator(int rank, int size, std::chrono::milliseconds timeout,
                   std::shared_ptr<gloo::Context> context);
  // Runs one Gloo call, mapping its exceptions to a Status and breaking the
  // group on the first failure.
  template <typename Fn>
  absl::Status Run(const char* what, Fn&& fn);

  const int rank_;
  const int size_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<gloo::Context> context_;
  absl::Status broken_;  // OK until a collective fails
  // All-reduces up to this size gather and add in rank order (see .cc).
  static constexpr size_t kGatherReduceMaxBytes = 256 << 10;
  std::vector<float> gathered_;  // [size, elements] scratch of those
};

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_GLOO_GLOO_COMMUNICATOR_H_
