#include "tools/gqa_loadgen/driver.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "core/status.h"
#include "tools/gqa_loadgen/run_result.h"
#include "tools/gqa_loadgen/stats.h"

namespace gqa::loadgen {
namespace {

constexpr int64_t kRecentWindowNs = 5'000'000'000;
constexpr size_t kRecentSamples = 1000;

// Sleeps until CLOCK_MONOTONIC reads `abs_ns` (steady_clock is that clock).
void SleepUntil(int64_t abs_ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(abs_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(abs_ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

int64_t MonotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Driver::Driver(DriverOptions options, const Workload& workload, RequestSender& sender)
    : options_(std::move(options)), workload_(workload), sender_(sender) {}

absl::StatusOr<std::vector<RequestRecord>> Driver::Run() {
  start_abs_ns_ = MonotonicNowNs();
  if (options_.mode == LoopMode::kOpen) {
    RETURN_IF_ERROR(RunOpen());
  } else {
    RunClosed();
  }
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  mu_.Await(absl::Condition(&drained));  // every request has a gRPC deadline
  std::vector<RequestRecord> records = records_;  // a copy: Live() still counts them
  std::sort(records.begin(), records.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.index < b.index; });
  return records;
}

bool Driver::Planned(int64_t index, int64_t offset_ns) {
  if (options_.num_requests.has_value()) {
    return index < options_.warmup_requests + *options_.num_requests;
  }
  if (index < options_.warmup_requests) return true;
  absl::MutexLock lock(&mu_);
  if (measure_start_ns_ < 0) return true;  // this is the first measured request
  return offset_ns - measure_start_ns_ < static_cast<int64_t>(*options_.duration_s * 1e9);
}

absl::Status Driver::RunOpen() {
  ASSIGN_OR_RETURN(ArrivalSchedule schedule, ArrivalSchedule::Create(options_.arrival));
  for (int64_t index = 0;; ++index) {
    const int64_t offset_ns = schedule.NextOffsetNs();
    if (!Planned(index, offset_ns)) break;
    // Build the request before its send time so that only the send is timed.
    RequestSpec spec = workload_.Make(options_.first_index + index);
    const int64_t due_abs_ns = start_abs_ns_ + offset_ns;
    SleepUntil(due_abs_ns);
    SendOne(index, std::move(spec), due_abs_ns);
  }
  return absl::OkStatus();
}

void Driver::RunClosed() {
  for (int64_t index = 0;; ++index) {
    {
      absl::MutexLock lock(&mu_);
      auto slot_free = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return in_flight_ < options_.concurrency;
      };
      mu_.Await(absl::Condition(&slot_free));
    }
    if (!Planned(index, MonotonicNowNs() - start_abs_ns_)) break;
    RequestSpec spec = workload_.Make(options_.first_index + index);
    SendOne(index, std::move(spec), std::nullopt);  // closed loop: scheduled = sent
  }
}

void Driver::SendOne(int64_t index, RequestSpec spec, std::optional<int64_t> scheduled) {
  const bool warmup = index < options_.warmup_requests;
  const int64_t sent_abs_ns = MonotonicNowNs();
  const int64_t scheduled_abs_ns = scheduled.value_or(sent_abs_ns);
  {
    absl::MutexLock lock(&mu_);
    ++num_sent_;
    ++in_flight_;
    if (!warmup && measure_start_ns_ < 0) measure_start_ns_ = scheduled_abs_ns - start_abs_ns_;
  }
  const int64_t start = start_abs_ns_;
  const int32_t prefix_group = spec.prefix_group;
  sender_.Send(spec, [this, index, warmup, scheduled_abs_ns, sent_abs_ns, start,
                      prefix_group](RequestRecord record) {
    record.index = index;
    record.warmup = warmup;
    record.prefix_group = prefix_group;
    record.scheduled_ns = scheduled_abs_ns - start;
    record.sent_ns = sent_abs_ns - start;
    record.end_ns -= start;
    for (TokenChunk& chunk : record.chunks) chunk.arrival_ns -= start;
    OnDone(std::move(record));
  });
}

void Driver::OnDone(RequestRecord record) {
  const RequestMetrics m = ComputeRequestMetrics(record);
  absl::MutexLock lock(&mu_);
  --in_flight_;
  if (!record.ok()) ++num_errors_;
  if (record.ok() && m.has_first_token) {
    recent_.push_back(Recent{record.end_ns, m.ttft_ms, m.tpot_ms.value_or(-1.0)});
    if (recent_.size() > kRecentSamples) recent_.pop_front();
  }
  records_.push_back(std::move(record));
}

LiveStats Driver::Live() const {
  LiveStats s;
  const int64_t now_ns = MonotonicNowNs() - start_abs_ns_;
  s.elapsed_s = static_cast<double>(now_ns) / 1e9;
  if (options_.num_requests.has_value()) {
    s.num_planned = options_.warmup_requests + *options_.num_requests;
  } else {
    s.planned_s = *options_.duration_s;
  }
  std::vector<double> ttft, tpot;
  int64_t recent_done = 0;
  {
    absl::MutexLock lock(&mu_);
    s.num_sent = num_sent_;
    s.num_done = static_cast<int64_t>(records_.size());
    s.num_errors = num_errors_;
    s.num_in_flight = in_flight_;
    s.warming_up = measure_start_ns_ < 0;
    for (const Recent& r : recent_) {
      ttft.push_back(r.ttft_ms);
      if (r.tpot_ms >= 0) tpot.push_back(r.tpot_ms);
      if (now_ns - r.end_ns <= kRecentWindowNs) ++recent_done;
    }
  }
  const double window_s = std::min(s.elapsed_s, kRecentWindowNs / 1e9);
  if (window_s > 0) s.recent_rps = static_cast<double>(recent_done) / window_s;
  s.recent_ttft_p50_ms = Summarize(std::move(ttft)).p50;
  s.recent_tpot_p50_ms = Summarize(std::move(tpot)).p50;
  return s;
}

}  // namespace gqa::loadgen
