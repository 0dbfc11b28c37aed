// gqa-loadgen against real `gqa-worker --fake-model` processes, which emit the
// first token --fake-ttft-ms after a request arrives and each next one
// --fake-itl-ms later. The measured medians must match the configured
// delays within max(5%, 2 ms) at several rates, and the harness's own send
// log (--csv) must show the open loop leaving on schedule while the worker
// is slow. Runs serially (it starts processes); each test stays under ~20 s.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/child_process.h"
#include "tools/gqa_loadgen/arrival_schedule.h"
#include "tools/gqa_loadgen/request_csv.h"
#include "tools/gqa_loadgen/run_binary_for_test.h"

namespace gqa::loadgen {
namespace {

class LoadgenFakeWorkerTest : public ::testing::Test {
 protected:
  std::string StartWorker(int ttft_ms, int itl_ms) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> worker = ChildProcess::Start(
        {GQA_WORKER_BINARY, "--fake-model", "--port", "0", "--listen", "127.0.0.1",
         "--fake-ttft-ms", absl::StrCat(ttft_ms), "--fake-itl-ms", absl::StrCat(itl_ms)});
    EXPECT_TRUE(worker.ok()) << worker.status();
    absl::StatusOr<std::string> address = (*worker)->WaitForListenAddress(absl::Seconds(30));
    EXPECT_TRUE(address.ok()) << address.status();
    worker_ = *std::move(worker);
    return address.value_or("");
  }

  std::string Path(absl::string_view name) {
    return absl::StrCat(::testing::TempDir(), "/loadgen-", getpid(), "-", name);
  }

  std::unique_ptr<ChildProcess> worker_;
};

double Tolerance(double configured_ms) { return std::max(0.05 * configured_ms, 2.0); }

TEST_F(LoadgenFakeWorkerTest, MedianTtftAndTpotMatchTheConfiguredDelaysAtSeveralRates) {
  constexpr int kTtftMs = 100;
  constexpr int kItlMs = 20;
  const std::string address = StartWorker(kTtftMs, kItlMs);
  struct Point {
    double rate;
    int requests;
  };
  for (const Point& point : {Point{2, 8}, Point{10, 30}, Point{25, 60}}) {
    const std::string json = Path(absl::StrCat("rate", point.rate, ".json"));
    const BinaryRun run = RunBinaryForTesting(
        GQA_LOADGEN_BINARY,
        {"--target", address, "--api", "worker", "--rate", absl::StrCat(point.rate), "--requests",
         absl::StrCat(point.requests), "--warmup", "2", "--input-len", "32", "--output-len", "10",
         "--seed", "3", "--no-progress", "--json", json});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json result = nlohmann::json::parse(ReadFileForTesting(json));
    SCOPED_TRACE(absl::StrCat("rate ", point.rate, "\n", run.out));
    EXPECT_EQ(result["num_ok"], point.requests);
    EXPECT_EQ(result["num_errors"], 0);
    EXPECT_EQ(result["tokens"]["output"], point.requests * 10);
    const double ttft = result["ttft_ms"]["p50"].get<double>();
    const double tpot = result["tpot_ms"]["p50"].get<double>();
    EXPECT_NEAR(ttft, kTtftMs, Tolerance(kTtftMs));
    EXPECT_NEAR(tpot, kItlMs, Tolerance(kItlMs));
    EXPECT_NEAR(result["itl_ms"]["p50"].get<double>(), kItlMs, Tolerance(kItlMs));
    // E2E = TTFT + 9 inter-token gaps.
    EXPECT_NEAR(result["e2e_ms"]["p50"].get<double>(), kTtftMs + 9 * kItlMs,
                Tolerance(kTtftMs + 9 * kItlMs));
    unlink(json.c_str());
  }
}

TEST_F(LoadgenFakeWorkerTest, ClosedLoopMediansMatchToo) {
  const std::string address = StartWorker(150, 25);
  const std::string json = Path("closed.json");
  const BinaryRun run = RunBinaryForTesting(
      GQA_LOADGEN_BINARY, {"--target", address, "--api", "worker", "--concurrency", "4",
                           "--requests", "24", "--output-len", "8", "--no-progress", "--json", json});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json result = nlohmann::json::parse(ReadFileForTesting(json));
  EXPECT_NEAR(result["ttft_ms"]["p50"].get<double>(), 150, Tolerance(150));
  EXPECT_NEAR(result["tpot_ms"]["p50"].get<double>(), 25, Tolerance(25));
  unlink(json.c_str());
}

// The send log: each request's scheduled and actual send time. With a worker
// that needs 1.45 s per request and arrivals at 20/s, a harness that waited
// for responses would fall seconds behind; this one must not.
TEST_F(LoadgenFakeWorkerTest, OpenLoopLeavesOnScheduleWhileTheWorkerIsSlow) {
  const std::string address = StartWorker(/*ttft_ms=*/1000, /*itl_ms=*/50);
  const std::string csv = Path("send-log.csv");
  constexpr int kRequests = 40;
  const BinaryRun run = RunBinaryForTesting(
      GQA_LOADGEN_BINARY, {"--target", address, "--api", "worker", "--rate", "20", "--requests",
                           absl::StrCat(kRequests), "--output-len", "10", "--seed", "11",
                           "--no-progress", "--csv", csv});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines =
      absl::StrSplit(ReadFileForTesting(csv), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), kRequests + 1u);
  ASSERT_EQ(lines[0], kCsvHeader);
  ArrivalOptions arrival;
  arrival.rate_per_s = 20;
  arrival.seed = 11;
  ArrivalSchedule schedule = *ArrivalSchedule::Create(arrival);
  std::vector<double> lags;
  double first_token_of_first = 0;
  int sent_before_first_token = 0;
  std::vector<double> sent;
  for (int i = 1; i <= kRequests; ++i) {
    const std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    double scheduled_ms = 0, sent_ms = 0, first_ms = 0, ttft_ms = 0;
    ASSERT_TRUE(absl::SimpleAtod(f[2], &scheduled_ms) && absl::SimpleAtod(f[3], &sent_ms) &&
                absl::SimpleAtod(f[4], &first_ms) && absl::SimpleAtod(f[6], &ttft_ms))
        << lines[i];
    // The schedule is the seed's, to the CSV's microsecond.
    EXPECT_NEAR(scheduled_ms, static_cast<double>(schedule.NextOffsetNs()) / 1e6, 0.0011) << i;
    lags.push_back(sent_ms - scheduled_ms);
    sent.push_back(sent_ms);
    if (i == 1) first_token_of_first = first_ms;
    EXPECT_EQ(f[14], "OK");
    EXPECT_GE(ttft_ms, 1000 - 2.0);  // the worker really was slow
  }
  for (double s : sent) sent_before_first_token += s < first_token_of_first;
  std::sort(lags.begin(), lags.end());
  EXPECT_GE(lags.front(), 0.0);
  EXPECT_LT(lags[lags.size() / 2], 2.0) << "median send lag (ms)";
  EXPECT_LT(lags.back(), 25.0) << "largest send lag (ms)";
  // At 20/s about 20 requests leave in the first second, before the first
  // response has even started.
  EXPECT_GE(sent_before_first_token, 12);
  unlink(csv.c_str());
}

}  // namespace
}  // namespace gqa::loadgen
