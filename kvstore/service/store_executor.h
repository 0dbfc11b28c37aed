// StoreExecutor: a small fixed pool of threads that run BlockStore calls for
// KvStoreService, so that gRPC's callback threads never wait on a store that
// may do disk or Redis I/O (STYLE.md: reactors never block). Tasks run in
// FIFO order; each stream has at most one or two tasks queued, so the queue
// is bounded by the number of open calls. Thread-safe.
#ifndef GQA_KVSTORE_SERVICE_STORE_EXECUTOR_H_
#define GQA_KVSTORE_SERVICE_STORE_EXECUTOR_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace gqa::kvstore {

class StoreExecutor {
 public:
  // Starts `num_threads` threads. REQUIRES: num_threads >= 1.
  explicit StoreExecutor(int num_threads);
  // Runs every task already scheduled, then joins the threads.
  ~StoreExecutor();
  StoreExecutor(const StoreExecutor&) = delete;
  StoreExecutor& operator=(const StoreExecutor&) = delete;

  // Runs `task` on one of the threads. REQUIRES: not called after (or
  // during) destruction.
  void Schedule(absl::AnyInvocable<void() &&> task);

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_STORE_EXECUTOR_H_
