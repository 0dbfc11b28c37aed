// RunThreadGroup: a tensor-parallel group of `tp` ranks as threads of this
// process, joined by Gloo over loopback with a TcpStoreServer of their own;
// for tests and benchmarks that run every rank in one process. Blocks until
// every rank's `body` has returned.
#ifndef GQA_WORKER_PARALLEL_GLOO_THREAD_GROUP_H_
#define GQA_WORKER_PARALLEL_GLOO_THREAD_GROUP_H_

#include <chrono>
#include <functional>

#include "absl/status/status.h"
#include "worker/parallel/communicator.h"

namespace gqa {

// Runs body(rank, communicator) on one thread per rank. The first error of
// starting the store or joining the group (then that rank's body does not
// run); OK otherwise. REQUIRES: tp >= 2.
absl::Status RunThreadGroup(int tp, std::chrono::milliseconds timeout,
                            const std::function<void(int rank, Communicator* comm)>& body);

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_GLOO_THREAD_GROUP_H_
