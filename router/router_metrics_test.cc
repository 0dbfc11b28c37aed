// RouterStatsCollector reports the pool's and the admission limits' own
// state: a worker address nobody listens on becomes "down" and not ready;
// running and queued calls are counted as Admission holds them.
#include "router/router_metrics.h"

#include <map>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

// {family name: {"label=value,...": value}}
std::map<std::string, std::map<std::string, double>> Flatten(
    const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, std::map<std::string, double>> out;
  for (const prometheus::MetricFamily& family : families) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::string key;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        key += (key.empty() ? "" : ",") + label.name + "=" + label.value;
      }
      out[family.name][key] = metric.gauge.value;
    }
  }
  return out;
}

TEST(RouterMetricsTest, WorkersByStateAndAdmissionCounts) {
  WorkerPoolOptions options;
  options.targets = {"127.0.0.1:1"};  // refused: every poll fails
  options.endpoint.poll_interval = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  Admission admission({.max_in_flight = 1, .max_queued = 4});
  RouterStatsCollector collector(pool->get(), &admission);

  auto flat = Flatten(collector.Collect());
  EXPECT_EQ(flat["gqa_router_workers"]["state=ready"], 0);
  EXPECT_EQ(flat["gqa_router_in_flight_sequences"][""], 0);
  EXPECT_EQ(flat["gqa_router_queued_calls"][""], 0);

  for (int i = 0; i < 300; ++i) {
    flat = Flatten(collector.Collect());
    if (flat["gqa_router_workers"]["state=down"] == 1) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(flat["gqa_router_workers"]["state=down"], 1);
  EXPECT_EQ(flat["gqa_router_workers"]["state=ready"], 0);
  EXPECT_EQ(flat["gqa_router_workers"]["state=unavailable"], 0);
  EXPECT_EQ(flat["gqa_router_worker_ready"]["worker=127.0.0.1:1"], 0);

  int started = 0;
  ASSERT_TRUE(admission.Enter("a", "key", 0, [&] { ++started; }).ok());
  ASSERT_TRUE(admission.Enter("b", "key", 0, [&] { ++started; }).ok());
  ASSERT_TRUE(admission.Enter("c", "key", 0, [&] { ++started; }).ok());
  flat = Flatten(collector.Collect());
  EXPECT_EQ(started, 1);
  EXPECT_EQ(flat["gqa_router_in_flight_sequences"][""], 1);
  EXPECT_EQ(flat["gqa_router_queued_calls"][""], 2);
  EXPECT_TRUE(admission.Leave("a"));
  flat = Flatten(collector.Collect());
  EXPECT_EQ(flat["gqa_router_in_flight_sequences"][""], 1);
  EXPECT_EQ(flat["gqa_router_queued_calls"][""], 1);
}

}  // namespace
}  // namespace gqa
