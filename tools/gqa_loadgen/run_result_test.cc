#include "tools/gqa_loadgen/run_result.h"

#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

constexpr int64_t kMs = 1'000'000;

// Scheduled at `start`, sent 1 ms late, tokens at +100 (1), +120 (1),
// +140 (2 coalesced), done at +150.
RequestRecord Streamed(int64_t index, int64_t start_ms) {
  RequestRecord r;
  r.index = index;
  r.scheduled_ns = start_ms * kMs;
  r.sent_ns = (start_ms + 1) * kMs;
  r.chunks = {{(start_ms + 100) * kMs, 1}, {(start_ms + 120) * kMs, 1}, {(start_ms + 140) * kMs, 2}};
  r.end_ns = (start_ms + 150) * kMs;
  r.num_output_tokens = 4;
  r.num_prompt_tokens = 10;
  r.num_cached_tokens = 4;
  r.peak_kv_bytes = 1000;
  return r;
}

TEST(RunResultTest, PerRequestLatenciesFromTheScheduledTime) {
  const RequestMetrics m = ComputeRequestMetrics(Streamed(0, 0));
  EXPECT_TRUE(m.has_first_token);
  EXPECT_DOUBLE_EQ(m.ttft_ms, 100);
  EXPECT_DOUBLE_EQ(*m.tpot_ms, 40.0 / 3);
  EXPECT_DOUBLE_EQ(m.e2e_ms, 150);
  EXPECT_DOUBLE_EQ(m.send_lag_ms, 1);
  // The coalesced message's 20 ms gap is split over its two tokens.
  EXPECT_EQ(m.itl_ms, (std::vector<double>{20, 10, 10}));
}

TEST(RunResultTest, OneTokenHasNoTpot) {
  RequestRecord r = Streamed(0, 0);
  r.chunks.resize(1);
  r.num_output_tokens = 1;
  EXPECT_FALSE(ComputeRequestMetrics(r).tpot_ms.has_value());
  EXPECT_TRUE(ComputeRequestMetrics(r).itl_ms.empty());
}

TEST(RunResultTest, AggregatesThroughputGoodputAndErrors) {
  std::vector<RequestRecord> records;
  RequestRecord warm = Streamed(0, 0);
  warm.warmup = true;
  records.push_back(warm);
  records.push_back(Streamed(1, 1000));
  RequestRecord slow = Streamed(2, 1500);
  slow.chunks.front().arrival_ns = (1500 + 110) * kMs;  // TTFT 110 ms
  records.push_back(slow);
  RequestRecord failed;
  failed.index = 3;
  failed.scheduled_ns = failed.sent_ns = 1800 * kMs;
  failed.end_ns = 1810 * kMs;
  failed.status_code = 14;
  records.push_back(failed);
  Slo slo;
  slo.ttft_ms = 105;
  const RunResult r = ComputeRunResult(records, slo);
  EXPECT_EQ(r.num_warmup, 1);
  EXPECT_EQ(r.num_requests, 3);
  EXPECT_EQ(r.num_ok, 2);
  EXPECT_EQ(r.num_errors, 1);
  EXPECT_EQ(r.errors.at("UNAVAILABLE"), 1);
  // Window: 1000 ms (first measured scheduled) to 1810 ms (last completion).
  EXPECT_DOUBLE_EQ(r.duration_s, 0.81);
  EXPECT_DOUBLE_EQ(r.request_throughput_rps, 2 / 0.81);
  EXPECT_DOUBLE_EQ(r.output_token_throughput_tps, 8 / 0.81);
  EXPECT_EQ(r.ttft_ms.count, 2);
  EXPECT_DOUBLE_EQ(r.ttft_ms.p50, 105);
  EXPECT_DOUBLE_EQ(r.ttft_ms.max, 110);
  EXPECT_EQ(r.num_slo_met, 1);
  EXPECT_DOUBLE_EQ(r.goodput_rps, 1 / 0.81);
  EXPECT_DOUBLE_EQ(r.goodput_fraction, 1.0 / 3);
  EXPECT_EQ(r.total_prompt_tokens, 20);
  EXPECT_EQ(r.total_cached_tokens, 8);
  EXPECT_EQ(r.itl_ms.count, 6);
  EXPECT_DOUBLE_EQ(r.peak_kv_bytes.max, 1000);
  EXPECT_EQ(r.send_lag_ms.count, 3);
}

TEST(RunResultTest, CodeNames) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(8), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(99), "CODE_99");
}

}  // namespace
}  // namespace gqa::loadgen
