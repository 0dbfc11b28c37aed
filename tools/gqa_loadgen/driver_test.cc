#include "tools/gqa_loadgen/driver.h"

#include <algorithm>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tools/gqa_loadgen/run_result.h"

namespace gqa::loadgen {
namespace {

// Answers every request `delay_ms` after it was sent, with two tokens, from
// its own thread: a slow server that never blocks the sender.
class SlowFakeSender final : public RequestSender {
 public:
  explicit SlowFakeSender(int64_t delay_ms) : delay_ns_(delay_ms * 1'000'000) {
    thread_ = std::thread([this] { Deliver(); });
  }
  ~SlowFakeSender() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  void Send(const RequestSpec& spec, std::function<void(RequestRecord)> done) override {
    absl::MutexLock lock(&mu_);
    pending_.emplace(MonotonicNowNs() + delay_ns_, std::move(done));
    max_in_flight_ = std::max<int64_t>(max_in_flight_, static_cast<int64_t>(pending_.size()));
    prompts_.push_back(spec.prompt_token_ids);
  }

  std::vector<std::vector<int32_t>> prompts() {
    absl::MutexLock lock(&mu_);
    return prompts_;
  }

  int64_t max_in_flight() {
    absl::MutexLock lock(&mu_);
    return max_in_flight_;
  }

 private:
  void Deliver() {
    while (true) {
      std::vector<std::function<void(RequestRecord)>> due;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_ && pending_.empty()) return;
        const int64_t now = MonotonicNowNs();
        while (!pending_.empty() && pending_.begin()->first <= now) {
          due.push_back(std::move(pending_.begin()->second));
          pending_.erase(pending_.begin());
        }
      }
      for (auto& done : due) {
        RequestRecord r;
        const int64_t now = MonotonicNowNs();
        r.chunks = {{now - 1'000'000, 1}, {now, 1}};
        r.num_output_tokens = 2;
        r.end_ns = now;
        done(std::move(r));
      }
      absl::SleepFor(absl::Microseconds(200));
    }
  }

  const int64_t delay_ns_;
  absl::Mutex mu_;
  std::multimap<int64_t, std::function<void(RequestRecord)>> pending_ ABSL_GUARDED_BY(mu_);
  int64_t max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::vector<int32_t>> prompts_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

Workload SmallWorkload() {
  WorkloadOptions o;
  o.input = *LengthSpec::Parse("--input-len", "4");
  o.output = *LengthSpec::Parse("--output-len", "2");
  return *Workload::Create(o);
}

TEST(DriverTest, OpenLoopSendsOnScheduleWhileTheServerIsSlow) {
  const Workload workload = SmallWorkload();
  SlowFakeSender sender(/*delay_ms=*/400);
  DriverOptions options;
  options.mode = LoopMode::kOpen;
  options.arrival.rate_per_s = 200;
  options.arrival.seed = 5;
  options.num_requests = 60;
  options.warmup_requests = 4;
  Driver driver(options, workload, sender);
  absl::StatusOr<std::vector<RequestRecord>> records = driver.Run();
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 64u);
  ArrivalSchedule schedule = *ArrivalSchedule::Create(options.arrival);
  for (const RequestRecord& r : *records) {
    EXPECT_EQ(r.scheduled_ns, schedule.NextOffsetNs()) << r.index;
    EXPECT_EQ(r.warmup, r.index < 4);
    EXPECT_GE(r.sent_ns, r.scheduled_ns);
  }
  // Nothing waited for a response: about all 64 were in flight together
  // (0.3 s of arrivals against 0.4 s per response).
  EXPECT_GE(sender.max_in_flight(), 50);
  const RunResult result = ComputeRunResult(*records, Slo());
  EXPECT_LT(result.send_lag_ms.p50, 5.0);
  EXPECT_EQ(result.num_requests, 60);
  EXPECT_EQ(result.num_warmup, 4);
}

TEST(DriverTest, ClosedLoopKeepsTheConcurrency) {
  const Workload workload = SmallWorkload();
  SlowFakeSender sender(/*delay_ms=*/20);
  DriverOptions options;
  options.mode = LoopMode::kClosed;
  options.concurrency = 3;
  options.num_requests = 15;
  Driver driver(options, workload, sender);
  absl::StatusOr<std::vector<RequestRecord>> records = driver.Run();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 15u);
  EXPECT_EQ(sender.max_in_flight(), 3);
  for (const RequestRecord& r : *records) EXPECT_EQ(r.scheduled_ns, r.sent_ns);
  EXPECT_EQ(driver.Live().num_done, 15);
  EXPECT_EQ(driver.Live().num_in_flight, 0);
}

TEST(DriverTest, FirstIndexPicksTheWorkloadsRequests) {
  const Workload workload = SmallWorkload();
  SlowFakeSender sender(/*delay_ms=*/1);
  DriverOptions options;
  options.mode = LoopMode::kClosed;
  options.num_requests = 2;
  options.first_index = 1000;
  Driver driver(options, workload, sender);
  ASSERT_TRUE(driver.Run().ok());
  EXPECT_EQ(sender.prompts(), (std::vector<std::vector<int32_t>>{
                                  workload.Make(1000).prompt_token_ids,
                                  workload.Make(1001).prompt_token_ids}));
}

TEST(DriverTest, DurationStopsSending) {
  const Workload workload = SmallWorkload();
  SlowFakeSender sender(/*delay_ms=*/5);
  DriverOptions options;
  options.mode = LoopMode::kOpen;
  options.arrival.kind = ArrivalKind::kConstant;
  options.arrival.rate_per_s = 100;
  options.duration_s = 0.3;
  Driver driver(options, workload, sender);
  absl::StatusOr<std::vector<RequestRecord>> records = driver.Run();
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(records->size(), 30u);  // offsets 0, 10, ..., 290 ms
}

}  // namespace
}  // namespace gqa::loadgen
