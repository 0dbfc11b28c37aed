// EngineLoop: the worker's engine thread. Owns the Scheduler and runs its
// steps; other threads (gRPC reactors) hand it requests and cancellations
// through a mutex-guarded inbox and read a stats snapshot, never touching
// the scheduler themselves (STYLE.md "Threading"). Sinks are called on the
// engine thread and must not block. Also feeds the worker's metrics.
// With a PrefixTier (the kvstore), a fetch thread looks up each new
// full-policy request's prompt there first, and the engine thread installs
// what it found as cached prefix blocks before the scheduler sees the
// request; every full block the engine computes is published to the tier.
// With a SwapTier in the options, preempted sequences swap out to it; the
// engine thread sleeps while the next sequence waits for its blocks to come
// back, and the tier wakes it.
// When the model leads a tensor-parallel group, the idle engine thread sends
// a heartbeat StepPlan every kTpHeartbeat so the followers' waits never time
// out (docs/tensor-parallel.md). Thread-safe.
#ifndef GQA_WORKER_SERVICE_ENGINE_LOOP_H_
#define GQA_WORKER_SERVICE_ENGINE_LOOP_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/scheduler/scheduler.h"
#include "worker/service/prefix_tier.h"
#include "worker/service/sequence_engine.h"
#include "worker/service/worker_metrics.h"

namespace gqa {

class EngineLoop final : public SequenceEngine {
 public:
  // Starts the engine thread. `model`, `storage`, `env`, `metrics` and
  // `prefix_tier` (both may be null) must outlive it. Cache watchers get a
  // fresh snapshot every `cache_snapshot_interval` (worker.proto).
  EngineLoop(Model* model, KvCacheStorage* storage, Env* env, const SchedulerOptions& options,
             WorkerMetrics* metrics = nullptr, PrefixTier* prefix_tier = nullptr,
             absl::Duration cache_snapshot_interval = absl::Seconds(60));
  // Cancels what is still live, joins the thread and, when the model leads
  // a tensor-parallel group, ends it (Model::EndGroup).
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

  // Called once, on the engine thread, when the model's tensor-parallel
  // group breaks (Model::group_status): from then on every sequence ends and
  // every Submit fails with UNAVAILABLE, and Load reports draining, because
  // the group cannot step again. gqa-worker then exits so that it can be
  // restarted. Runs without the engine's lock.
  void SetOnGroupFailure(std::function<void(const absl::Status&)> on_failure);

 private:
  class SequenceTracker;
  // A request on its way to the scheduler, with the prefix blocks fetched
  // for it (ids and payloads, in chain order).
  struct Inbound {
    std::unique_ptr<EngineRequest> request;
    std::shared_ptr<SequenceSink> sink;
    std::vector<BlockId> fetched_ids;
    std::vector<std::string> fetched;
  };
  void Run();
  void FetchLoop();
  bool HasFetchWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Engine thread: installs an inbound request's fetched blocks.
  void InstallFetched(Inbound& inbound);
  // Engine thread: publishes the step's newly stored blocks to the tier.
  void UploadStored(const std::vector<BlockId>& stored);
  // A sequence finished (its sink is about to hear it): the engine thread,
  // or the fetch thread for a request cancelled before the scheduler saw it.
  void Forget(const std::string& id);
  // Engine thread: snapshots for new or lagging watchers, then this step's changes.
  void PublishCacheEvents(std::vector<std::shared_ptr<CacheWatcher>> new_watchers);

  const ModelConfig config_;
  Env* const env_;
  WorkerMetrics* const metrics_;
  const int64_t max_waiting_;
  mutable absl::Mutex mu_;
  std::vector<Inbound> inbox_ ABSL_GUARDED_BY(mu_);
  // Prefix tier: requests waiting for their fetch, the ids of those being
  // fetched that were cancelled meanwhile, and a copy of the pool's
  // published ids for the fetcher (so it fetches only what is not cached).
  std::deque<Inbound> to_fetch_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> fetching_ids_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> cancelled_while_fetching_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<BlockId> cached_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> live_ids_ ABSL_GUARDED_BY(mu_);
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<CacheWatcher>> new_watchers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::function<void(int64_t)>>> clears_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool swap_loaded_ ABSL_GUARDED_BY(mu_) = false;  // a swap-in finished since the last step
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status group_failure_ ABSL_GUARDED_BY(mu_);
  std::function<void(const absl::Status&)> on_group_failure_ ABSL_GUARDED_BY(mu_);
  PrefixTier* const prefix_tier_;
  SwapTier* const swap_tier_;
  KvCacheStorage* const storage_;
  const std::string model_fingerprint_;
  Model* const model_;
  const int64_t block_size_;
  Scheduler scheduler_;  // engine thread only
  absl::flat_hash_set<BlockId> installed_now_;  // engine thread only: not uploaded back
  std::vector<std::shared_ptr<CacheWatcher>> watchers_;  // engine thread only
  uint64_t cache_sequence_ = 0;                           // engine thread only
  const int64_t cache_snapshot_interval_ns_;
  int64_t last_snapshot_ns_ = 0;  // engine thread only: the last periodic snapshot
  std::atomic<std::thread::id> engine_thread_id_;  // set by the engine thread itself
  std::thread thread_;
  std::thread fetcher_;  // only with a prefix tier
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_ENGINE_LOOP_H_
