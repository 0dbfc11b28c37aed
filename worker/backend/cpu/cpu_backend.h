// The CPU backend: runs everywhere, is the oracle the CUDA backend is tested
// against, and is batch-invariant (every op computes a token's values in a
// fixed order whatever else shares the batch). Parallel loops run on a
// blocking ThreadPool (no spin-waiting). Thread-compatible.
#ifndef GQA_WORKER_BACKEND_CPU_CPU_BACKEND_H_
#define GQA_WORKER_BACKEND_CPU_CPU_BACKEND_H_

#include <memory>

#include "worker/backend/backend.h"

namespace gqa {

struct CpuBackendOptions {
  // Threads for parallel loops, counting the calling thread. Default 1.
  int num_threads = 1;
  // After each parallel loop, threads poll for the next one for at most this
  // long before sleeping (see ThreadPool). 0: sleep at once, for hosts where
  // every core is oversubscribed. Default 50 us.
  int64_t poll_us = 50;
};

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options);

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_CPU_CPU_BACKEND_H_
