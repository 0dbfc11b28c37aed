#include "worker/service/fake_engine.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gqa {

FakeEngine::FakeEngine(Env* env, FakeEngineOptions options)
    : env_(env), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

FakeEngine::~FakeEngine() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

int32_t FakeEngine::FakeToken(const EngineRequest& request, int64_t output_idx, int64_t vocab) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t id : request.prompt_ids) h = (h ^ static_cast<uint32_t>(id)) * 1099511628211ull;
  h = (h ^ static_cast<uint64_t>(output_idx)) * 1099511628211ull;
  return static_cast<int32_t>(h % static_cast<uint64_t>(std::max<int64_t>(vocab, 1)));
}

absl::Status FakeEngine::Submit(std::unique_ptr<EngineRequest> request,
                                std::shared_ptr<SequenceSink> sink) {
  absl::MutexLock lock(&mu_);
  if (draining_ || stopping_) {
    return absl::UnavailableError("the worker is draining; send the request to another worker");
  }
  if (static_cast<int64_t>(live_.size()) >= options_.max_waiting) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the worker's queue is full (", options_.max_waiting, " live requests); retry later"));
  }
  if (live_.contains(request->id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("request_id '", request->id, "' is already live on this worker"));
  }
  Live live;
  live.arrival_ns = env_->NowNanos();
  live.next_ns = live.arrival_ns + absl::ToInt64Nanoseconds(options_.ttft);
  live.sink = std::move(sink);
  const std::string id = request->id;
  live.request = std::move(request);
  live_.emplace(id, std::move(live));
  return absl::OkStatus();
}

absl::Status FakeEngine::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = live_.find(id);
  if (it == live_.end()) {
    return absl::NotFoundError(absl::StrCat("no live sequence has request_id '", id, "'"));
  }
  it->second.cancelled = true;
  it->second.next_ns = 0;  // handled at once
  return absl::OkStatus();
}

int64_t FakeEngine::Drain(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto drained = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
  return static_cast<int64_t>(live_.size());
}

SchedulerStats FakeEngine::stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats;
  stats.running = static_cast<int64_t>(live_.size());
  stats.finished_total = finished_;
  stats.draining = draining_;
  for (const auto& [id, live] : live_) {
    stats.outstanding_tokens +=
        live.request->max_new_tokens - static_cast<int64_t>(live.request->output_ids.size()) -
        live.emitted;
  }
  return stats;
}

void FakeEngine::Run() {
  const int64_t itl_ns = absl::ToInt64Nanoseconds(options_.itl);
  while (true) {
    struct Event {
      std::shared_ptr<SequenceSink> sink;
      std::optional<SequenceUpdate> token;
      std::optional<SequenceSummary> finish;
    };
    std::vector<Event> events;
    {
      absl::MutexLock lock(&mu_);
      int64_t next_due = std::numeric_limits<int64_t>::max();
      for (const auto& [id, live] : live_) next_due = std::min(next_due, live.next_ns);
      const int64_t now = env_->NowNanos();
      if (next_due > now) {
        // Sleep until the next token is due or something changes.
        auto changed = [this, next_due]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          if (stopping_) return true;
          for (const auto& [id, live] : live_) {
            if (live.next_ns < next_due) return true;
          }
          return false;
        };
        const absl::Duration wait = next_due == std::numeric_limits<int64_t>::max()
                                        ? absl::InfiniteDuration()
                                        : absl::Nanoseconds(next_due - now);
        mu_.AwaitWithTimeout(absl::Condition(&changed), wait);
      }
      if (stopping_) break;
      const int64_t due = env_->NowNanos();
      for (auto it = live_.begin(); it != live_.end();) {
        Live& live = it->second;
        const EngineRequest& request = *live.request;
        if (live.next_ns > due) {
          ++it;
          continue;
        }
        std::optional<EngineFinish> finish;
        Event event{live.sink, std::nullopt, std::nullopt};
        if (live.cancelled) {
          finish = EngineFinish::kCancelled;
        } else if (request.deadline_ns.has_value() && *request.deadline_ns <= due) {
          finish = EngineFinish::kDeadline;
        } else {
          SequenceUpdate update;
          update.output_idx = static_cast<int64_t>(request.output_ids.size()) + live.emitted;
          update.token.token_id = FakeToken(request, update.output_idx, options_.config.vocab_size);
          ++live.emitted;
          live.next_ns += itl_ns;
          if (std::count(request.stop_ids.begin(), request.stop_ids.end(),
                         update.token.token_id) > 0) {
            finish = EngineFinish::kStopToken;
          } else if (update.output_idx + 1 >= request.max_new_tokens) {
            finish = EngineFinish::kLength;
          }
          event.token = update;
        }
        if (finish.has_value()) {
          SequenceSummary summary;
          summary.finish = *finish;
          summary.prompt_tokens = static_cast<int64_t>(request.prompt_ids.size());
          summary.generated_tokens = static_cast<int64_t>(request.output_ids.size()) + live.emitted;
          summary.queue_ns = 0;
          event.finish = summary;
          ++finished_;
          it = live_.erase(it);
        } else {
          ++it;
        }
        events.push_back(std::move(event));
      }
    }
    for (Event& event : events) {
      if (event.token.has_value()) event.sink->OnToken(*event.token);
      if (event.finish.has_value()) event.sink->OnFinish(*event.finish);
    }
  }
  // Stopping: everything still live ends as cancelled.
  std::map<std::string, Live> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(live_);
  }
  for (auto& [id, live] : left) {
    SequenceSummary summary;
    summary.finish = EngineFinish::kCancelled;
    live.sink->OnFinish(summary);
  }
}

}  // namespace gqa
