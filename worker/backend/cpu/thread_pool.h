// ThreadPool: a fixed set of worker threads for the CPU backend's
// data-parallel loops. ParallelFor blocks the caller (which also does a share
// of the work) until every chunk is done. Idle threads sleep on a condition
// variable; right after a loop they may poll for at most `poll_ns` first,
// because a decode step runs hundreds of loops of a few tens of microseconds
// each and a futex wake-up costs as much as the work. They never poll longer,
// so an idle pool uses no CPU. Chunk boundaries depend only on the range and
// the grain, never on the thread count, so results are reproducible.
// Thread-safe, but ParallelFor calls are serialized (one loop at a time).
#ifndef GQA_WORKER_BACKEND_CPU_THREAD_POOL_H_
#define GQA_WORKER_BACKEND_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace gqa {

class ThreadPool {
 public:
  // num_threads counts the calling thread: 1 means "run inline". poll_ns:
  // how long a thread polls for new work (or the caller for completion)
  // before sleeping; 0 sleeps at once. REQUIRES: num_threads >= 1.
  explicit ThreadPool(int num_threads, int64_t poll_ns = 0);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) for consecutive chunks [begin, end) of [0, count),
  // each at most `grain` long, in parallel. Returns when all are done.
  void ParallelFor(int64_t count, int64_t grain,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs chunks of the current job until none are left.
  void RunChunks() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex loop_mu_;  // serializes ParallelFor callers
  absl::Mutex mu_;
  const std::function<void(int64_t, int64_t)>* job_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t job_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t job_grain_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_chunk_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_chunks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chunks_done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Mirrors of generation_ and chunks_done_ readable without mu_, for polling.
  std::atomic<uint64_t> published_generation_{0};
  std::atomic<int64_t> published_chunks_done_{0};
  const int64_t poll_ns_;
  std::vector<std::thread> workers_;
};

// The default --threads: the machine's cores divided among `num_local_processes`
// processes that share them (at least 1).
int DefaultThreadCount(int num_local_processes);

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_CPU_THREAD_POOL_H_
