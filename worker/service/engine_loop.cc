#include "worker/service/engine_loop.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/block_id.h"
#include "core/log.h"
#include "worker/kv/kv_block_transfer.h"

namespace gqa {

// Wraps a caller's sink: times its tokens for the metrics and forgets the
// request id once it finishes. Called on the engine thread only.
class EngineLoop::SequenceTracker : public SequenceSink {
 public:
  SequenceTracker(EngineLoop* loop, std::string id, std::shared_ptr<SequenceSink> inner)
      : loop_(loop), id_(std::move(id)), inner_(std::move(inner)),
        last_ns_(loop->env_->NowNanos()) {}
  void OnToken(const SequenceUpdate& update) override {
    const int64_t now = loop_->env_->NowNanos();
    if (loop_->metrics_ != nullptr) {
      const double seconds = (now - last_ns_) * 1e-9;
      if (first_) {
        loop_->metrics_->ObserveFirstToken(seconds);
      } else {
        loop_->metrics_->ObserveInterToken(seconds);
      }
    }
    first_ = false;
    last_ns_ = now;
    inner_->OnToken(update);
  }
  void OnFinish(const SequenceSummary& summary) override {
    if (loop_->metrics_ != nullptr) loop_->metrics_->ObserveFinish(summary);
    loop_->Forget(id_);
    inner_->OnFinish(summary);
  }

 private:
  EngineLoop* loop_;
  std::string id_;
  std::shared_ptr<SequenceSink> inner_;
  int64_t last_ns_;
  bool first_ = true;
};

namespace {

// The loop streams cache events to watchers, so its scheduler records them.
SchedulerOptions WithCacheEvents(SchedulerOptions options) {
  options.record_cache_events = true;
  return options;
}

// Below the followers' communicator timeout (default 10 s) with margin.
constexpr absl::Duration kTpHeartbeat = absl::Seconds(1);

}  // namespace

EngineLoop::EngineLoop(Model* model, KvCacheStorage* storage, Env* env,
                       const SchedulerOptions& options, WorkerMetrics* metrics,
                       PrefixTier* prefix_tier, absl::Duration cache_snapshot_interval)
    : config_(model->config()),
      env_(env),
      metrics_(metrics),
      max_waiting_(options.max_waiting),
      prefix_tier_(prefix_tier),
      swap_tier_(options.swap_tier),
      storage_(storage),
      model_fingerprint_(model->fingerprint()),
      model_(model),
      block_size_(storage->block_size()),
      scheduler_(model, storage, env, WithCacheEvents(options)),
      cache_snapshot_interval_ns_(absl::ToInt64Nanoseconds(cache_snapshot_interval)),
      last_snapshot_ns_(env->NowNanos()) {
  stats_ = scheduler_.stats();
  if (metrics_ != nullptr) metrics_->SetStats(stats_);
  if (swap_tier_ != nullptr) {
    swap_tier_->SetOnLoaded([this] {
      absl::MutexLock lock(&mu_);
      swap_loaded_ = true;
    });
  }
  thread_ = std::thread([this] { Run(); });
  if (prefix_tier_ != nullptr) fetcher_ = std::thread([this] { FetchLoop(); });
}

EngineLoop::~EngineLoop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (fetcher_.joinable()) fetcher_.join();
  thread_.join();
  // The followers' loops end with OK (a no-op unless the model leads a group).
  const absl::Status ended = model_->EndGroup();
  if (!ended.ok()) LOG(WARNING) << "tp group end: " << ended;
  if (swap_tier_ != nullptr) swap_tier_->SetOnLoaded(nullptr);
}

absl::Status EngineLoop::Submit(std::unique_ptr<EngineRequest> request,
                                std::shared_ptr<SequenceSink> sink) {
  absl::MutexLock lock(&mu_);
  if (!group_failure_.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "this worker's tensor-parallel group is broken (", group_failure_.message(),
        "); it is exiting to be restarted; send the request to another worker"));
  }
  if (draining_ || stopping_) {
    return absl::UnavailableError("the worker is draining; send the request to another worker");
  }
  if (stats_.waiting + static_cast<int64_t>(inbox_.size() + to_fetch_.size()) >= max_waiting_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the worker's queue is full (", max_waiting_, " waiting requests); retry later"));
  }
  if (!live_ids_.insert(request->id).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("request_id '", request->id, "' is already live on this worker"));
  }
  auto tracker = std::make_shared<SequenceTracker>(this, request->id, std::move(sink));
  Inbound inbound;
  inbound.sink = std::move(tracker);
  // Full-policy requests with a whole block to reuse look in the tier first.
  const bool fetch = prefix_tier_ != nullptr && request->kv_policy == KvPolicy::Full() &&
                     static_cast<int64_t>(request->prompt_ids.size() + request->output_ids.size()) >
                         block_size_;
  inbound.request = std::move(request);
  if (fetch) {
    fetching_ids_.insert(inbound.request->id);
    to_fetch_.push_back(std::move(inbound));
  } else {
    inbox_.push_back(std::move(inbound));
  }
  return absl::OkStatus();
}

absl::Status EngineLoop::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (!live_ids_.contains(id)) {
    return absl::NotFoundError(absl::StrCat("no live sequence has request_id '", id, "'"));
  }
  if (fetching_ids_.contains(id)) cancelled_while_fetching_.insert(id);
  cancels_.push_back(id);
  return absl::OkStatus();
}

void EngineLoop::Forget(const std::string& id) {
  // On the engine thread the scheduler has freed the sequence's blocks
  // before its sink hears of the finish: refresh the snapshot now, so that a
  // caller who saw the stream end never reads a Load that still counts them.
  // (The fetch thread finishes only requests the scheduler never saw.)
  std::optional<SchedulerStats> stats;
  if (std::this_thread::get_id() == engine_thread_id_.load()) stats = scheduler_.stats();
  absl::MutexLock lock(&mu_);
  live_ids_.erase(id);
  if (stats.has_value()) stats_ = *stats;
}

int64_t EngineLoop::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto drained = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_ids_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
  return static_cast<int64_t>(live_ids_.size());
}

void EngineLoop::Watch(std::shared_ptr<CacheWatcher> watcher) {
  absl::MutexLock lock(&mu_);
  new_watchers_.push_back(std::move(watcher));
}

void EngineLoop::ClearCache(std::string tenant, std::function<void(int64_t)> done) {
  absl::MutexLock lock(&mu_);
  clears_.emplace_back(std::move(tenant), std::move(done));
}

void EngineLoop::PublishCacheEvents(std::vector<std::shared_ptr<CacheWatcher>> new_watchers) {
  std::vector<BlockId> removed, stored;
  scheduler_.TakeCacheEvents(removed, stored);
  if (prefix_tier_ != nullptr) {
    UploadStored(stored);
    absl::MutexLock lock(&mu_);
    for (const BlockId& id : removed) cached_ids_.erase(id);
    cached_ids_.insert(stored.begin(), stored.end());
  }
  // Changes first, to the watchers that already had a snapshot...
  for (auto [ids, is_stored] : {std::pair{&removed, false}, std::pair{&stored, true}}) {
    if (ids->empty()) continue;
    ++cache_sequence_;
    for (auto& watcher : watchers_) {
      if (watcher != nullptr && !watcher->OnChange(cache_sequence_, is_stored, *ids)) {
        watcher.reset();
      }
    }
  }
  // ...then snapshots, which include them, for new and lagging watchers,
  // and for every watcher once per interval.
  const int64_t now_ns = env_->NowNanos();
  const bool periodic = now_ns - last_snapshot_ns_ >= cache_snapshot_interval_ns_;
  if (periodic) last_snapshot_ns_ = now_ns;
  watchers_.insert(watchers_.end(), new_watchers.begin(), new_watchers.end());
  std::vector<BlockId> snapshot;
  bool have_snapshot = false;
  for (size_t i = 0; i < watchers_.size(); ++i) {
    auto& watcher = watchers_[i];
    const bool is_new = i + new_watchers.size() >= watchers_.size();
    if (watcher == nullptr || !(is_new || periodic || watcher->WantsSnapshot())) continue;
    if (!have_snapshot) {
      snapshot = scheduler_.kv().pool().PublishedIds();
      have_snapshot = true;
    }
    if (!watcher->OnSnapshot(cache_sequence_, snapshot)) watcher.reset();
  }
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), nullptr), watchers_.end());
}

SchedulerStats EngineLoop::stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats = stats_;
  stats.draining = draining_;
  return stats;
}

void EngineLoop::SetOnGroupFailure(std::function<void(const absl::Status&)> on_failure) {
  absl::MutexLock lock(&mu_);
  on_group_failure_ = std::move(on_failure);
}

void EngineLoop::Run() {
  engine_thread_id_.store(std::this_thread::get_id());
  bool group_failed = false;
  while (true) {
    decltype(inbox_) inbox;
    std::vector<std::string> cancels;
    std::vector<std::shared_ptr<CacheWatcher>> new_watchers;
    decltype(clears_) clears;
    // Only this thread changes the scheduler.
    const bool idle = scheduler_.idle();
    const bool swapping_in = scheduler_.waiting_for_swap_in();
    bool heartbeat = false;
    {
      absl::MutexLock lock(&mu_);
      // Sleep while there is nothing to do, or nothing until a swap-in
      // arrives (checking deadlines now and then).
      auto has_work = [this, idle, swapping_in]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !inbox_.empty() || !cancels_.empty() || !new_watchers_.empty() ||
               !clears_.empty() || (!idle && !swapping_in) || swap_loaded_;
      };
      // Watchers wake the loop for their periodic snapshot; a tensor-parallel
      // leader for its heartbeat.
      absl::Duration wait = absl::InfiniteDuration();
      if (!watchers_.empty()) {
        wait = absl::Nanoseconds(
            std::max<int64_t>(0, last_snapshot_ns_ + cache_snapshot_interval_ns_ - env_->NowNanos()));
      }
      if (swapping_in) wait = std::min(wait, absl::Milliseconds(20));
      if (model_->leads_group()) wait = std::min(wait, kTpHeartbeat);
      if (wait == absl::InfiniteDuration()) {
        mu_.Await(absl::Condition(&has_work));
      } else {
        const bool woken = mu_.AwaitWithTimeout(absl::Condition(&has_work), wait);
        heartbeat = !woken && model_->leads_group();
      }
      swap_loaded_ = false;
      if (stopping_) break;
      inbox.swap(inbox_);
      cancels.swap(cancels_);
      new_watchers.swap(new_watchers_);
      clears.swap(clears_);
    }
    // Idle: the followers wait for a plan; tell them the leader is alive
    // (a failure shows in the model's group status, below).
    if (heartbeat) (void)model_->Heartbeat();
    for (auto& [tenant, done] : clears) done(scheduler_.ClearCache(tenant));
    for (Inbound& inbound : inbox) {
      if (!inbound.fetched.empty()) InstallFetched(inbound);
      absl::Status added = scheduler_.Add(std::move(inbound.request), inbound.sink);
      if (!added.ok()) {
        SequenceSummary summary;
        summary.finish = EngineFinish::kError;
        summary.error = added;
        inbound.sink->OnFinish(summary);
      }
    }
    for (const std::string& id : cancels) scheduler_.Cancel(id);
    const StepReport report = scheduler_.Step();
    PublishCacheEvents(std::move(new_watchers));
    SchedulerStats stats = scheduler_.stats();
    const bool group_broke = !model_->group_status().ok() && !group_failed;
    if (group_broke) {
      // Nothing can step again: what is queued fails now rather than one
      // step at a time.
      group_failed = true;
      LOG(ERROR) << "tp group broken: " << model_->group_status();
      scheduler_.FailAll(model_->group_status());  // UNAVAILABLE, naming the failure
      stats = scheduler_.stats();
    }
    stats.draining |= group_failed;
    if (metrics_ != nullptr) {
      metrics_->ObserveStep(report);
      metrics_->SetStats(stats);
    }
    std::function<void(const absl::Status&)> on_group_failure;
    {
      absl::MutexLock lock(&mu_);
      stats_ = stats;
      if (group_broke) {
        group_failure_ = model_->group_status();
        draining_ = true;
        on_group_failure = on_group_failure_;
      }
    }
    if (on_group_failure) on_group_failure(model_->group_status());
  }
  // Stopping: whatever is still live ends as cancelled (sinks are called
  // without the lock: they call Forget).
  decltype(inbox_) queued;
  std::vector<std::string> live;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(inbox_);
    for (Inbound& inbound : to_fetch_) queued.push_back(std::move(inbound));
    to_fetch_.clear();
    live.assign(live_ids_.begin(), live_ids_.end());
  }
  for (Inbound& inbound : queued) {
    SequenceSummary summary;
    summary.finish = EngineFinish::kCancelled;
    inbound.sink->OnFinish(summary);
  }
  for (const std::string& id : live) scheduler_.Cancel(id);
}

bool EngineLoop::HasFetchWork() const { return stopping_ || !to_fetch_.empty(); }

void EngineLoop::FetchLoop() {
  while (true) {
    Inbound inbound;
    std::vector<BlockId> chain;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &EngineLoop::HasFetchWork));
      if (stopping_) return;
      inbound = std::move(to_fetch_.front());
      to_fetch_.pop_front();
      // The blocks Begin may reuse: the whole ones within all but the last
      // token to prefill.
      std::vector<int32_t> tokens = inbound.request->prompt_ids;
      tokens.insert(tokens.end(), inbound.request->output_ids.begin(),
                    inbound.request->output_ids.end());
      tokens.pop_back();
      chain = ChainBlockIds(RootBlockId(model_fingerprint_, inbound.request->tenant), tokens,
                            block_size_);
      size_t cached = 0;
      while (cached < chain.size() && cached_ids_.contains(chain[cached])) ++cached;
      chain.erase(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(cached));
    }
    if (!chain.empty()) {
      inbound.fetched = prefix_tier_->Fetch(inbound.request->tenant, chain);
      chain.resize(inbound.fetched.size());
      inbound.fetched_ids = std::move(chain);
    }
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      fetching_ids_.erase(inbound.request->id);
      cancelled = cancelled_while_fetching_.erase(inbound.request->id) > 0;
      if (!cancelled) inbox_.push_back(std::move(inbound));
    }
    if (cancelled) {
      SequenceSummary summary;
      summary.finish = EngineFinish::kCancelled;
      inbound.sink->OnFinish(summary);
    }
  }
}

void EngineLoop::InstallFetched(Inbound& inbound) {
  const std::vector<PagedKvView>& views = storage_->layer_views();
  scheduler_.mutable_kv().InstallPrefixBlocks(
      inbound.request->tenant, inbound.fetched_ids, [&](int32_t block, size_t index) {
        if (!ImportKvBlock(views, block, inbound.fetched[index]).ok()) return false;
        installed_now_.insert(inbound.fetched_ids[index]);
        return true;
      });
}

void EngineLoop::UploadStored(const std::vector<BlockId>& stored) {
  const BlockPool& pool = scheduler_.kv().pool();
  for (const BlockId& id : stored) {
    if (installed_now_.erase(id) > 0) continue;  // it came from the tier
    const std::optional<int32_t> block = pool.Find(id);
    if (!block.has_value()) continue;
    std::string payload;
    if (!ExportKvBlock(storage_->layer_views(), *block, &payload).ok()) continue;
    prefix_tier_->Publish(pool.tenant_of(*block), id, std::move(payload));
  }
  installed_now_.clear();
}

}  // namespace gqa
