// EngineLoop: the worker's engine thread. Owns the Scheduler and runs its
// steps; other threads (gRPC reactors) hand it requests and cancellations
// through a mutex-guarded inbox and read a stats snapshot, never touching
// the scheduler themselves (STYLE.md "Threading"). Sinks are called on the
// engine thread and must not block. Also feeds the worker's metrics.
// Thread-safe.
#ifndef GQA_WORKER_SERVICE_ENGINE_LOOP_H_
#define GQA_WORKER_SERVICE_ENGINE_LOOP_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "worker/scheduler/scheduler.h"
#include "worker/service/sequence_engine.h"
#include "worker/service/worker_metrics.h"

namespace gqa {

class EngineLoop final : public SequenceEngine {
 public:
  // Starts the engine thread. `model`, `storage`, `env` and `metrics` (may
  // be null) must outlive it.
  EngineLoop(Model* model, KvCacheStorage* storage, Env* env, const SchedulerOptions& options,
             WorkerMetrics* metrics = nullptr);
  // Cancels what is still live and joins the thread.
  ~EngineLoop() override;
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  absl::Status Submit(std::unique_ptr<EngineRequest> request,
                      std::shared_ptr<SequenceSink> sink) override;
  absl::Status Cancel(const std::string& id) override;
  int64_t Drain(absl::Duration timeout) override;
  SchedulerStats stats() const override;
  void Watch(std::shared_ptr<CacheWatcher> watcher) override;
  void ClearCache(std::string tenant, std::function<void(int64_t)> done) override;
  const ModelConfig& config() const override { return config_; }

 private:
  class SequenceTracker;
  void Run();
  void Forget(const std::string& id);
  // Engine thread: snapshots for new or lagging watchers, then this step's changes.
  void PublishCacheEvents(std::vector<std::shared_ptr<CacheWatcher>> new_watchers);

  const ModelConfig config_;
  Env* const env_;
  WorkerMetrics* const metrics_;
  const int64_t max_waiting_;
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::unique_ptr<EngineRequest>, std::shared_ptr<SequenceSink>>> inbox_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> live_ids_ ABSL_GUARDED_BY(mu_);
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<CacheWatcher>> new_watchers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::function<void(int64_t)>>> clears_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  Scheduler scheduler_;  // engine thread only
  std::vector<std::shared_ptr<CacheWatcher>> watchers_;  // engine thread only
  uint64_t cache_sequence_ = 0;                           // engine thread only
  std::thread thread_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_ENGINE_LOOP_H_
