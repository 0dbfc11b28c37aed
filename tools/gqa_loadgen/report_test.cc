#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa_loadgen/report_json.h"
#include "tools/gqa_loadgen/request_csv.h"
#include "tools/gqa_loadgen/summary_table.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

RequestRecord Record() {
  RequestRecord r;
  r.index = 3;
  r.scheduled_ns = 1'000'000;
  r.sent_ns = 1'250'000;
  r.chunks = {{101'000'000, 1}, {121'000'000, 1}};
  r.end_ns = 122'000'000;
  r.num_prompt_tokens = 16;
  r.num_cached_tokens = 8;
  r.num_output_tokens = 2;
  r.peak_kv_bytes = 4096;
  r.finish_reason = "LENGTH";
  return r;
}

TEST(ReportTest, JsonFieldsAreMetricThenStatistic) {
  const RunResult r = ComputeRunResult({Record()}, *ParseSlo("ttft=200ms"));
  const nlohmann::json j = RunResultToJson(r, std::nullopt);
  for (const char* metric : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "send_lag_ms",
                             "peak_kv_bytes", "output_tokens"}) {
    for (const char* stat : {"count", "mean", "min", "p50", "p90", "p95", "p99", "max"}) {
      EXPECT_TRUE(j[metric].contains(stat)) << metric << "." << stat;
    }
  }
  EXPECT_DOUBLE_EQ(j["ttft_ms"]["p50"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(j["tpot_ms"]["p99"].get<double>(), 20);
  EXPECT_EQ(j["num_ok"], 1);
  EXPECT_TRUE(j.contains("request_throughput_rps"));
  EXPECT_TRUE(j.contains("output_token_throughput_tps"));
  EXPECT_EQ(j["goodput"]["num_met"], 1);
  EXPECT_DOUBLE_EQ(j["goodput"]["slo"]["ttft_ms"].get<double>(), 200);
  EXPECT_EQ(j["tokens"]["cached_prompt"], 8);
  EXPECT_DOUBLE_EQ(j["tokens"]["cached_fraction"].get<double>(), 0.5);
  EXPECT_TRUE(j["errors"].is_object());
  EXPECT_TRUE(j["client_cpu"].contains("cores"));
  EXPECT_FALSE(j.contains("quality"));
  QualityResult q;
  q.kv_policy = "window:64";
  EXPECT_EQ(RunResultToJson(r, q)["quality"]["kv_policy"], "window:64");
  EXPECT_TRUE(RunResultToJson(r, q)["quality"]["token_agreement"].contains("mean"));
}

TEST(ReportTest, CsvHasARowPerRequestWithItsSendTimes) {
  RequestRecord failed;
  failed.index = 4;
  failed.status_code = 8;
  const std::string csv = RecordsToCsv({Record(), failed}, Slo());
  const std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], kCsvHeader);
  EXPECT_EQ(lines[1],
            "3,0,1.000,1.250,101.000,122.000,100.000,20.000,121.000,16,8,2,4096,-1,OK,LENGTH,1");
  EXPECT_THAT(lines[2], HasSubstr(",RESOURCE_EXHAUSTED,,0"));
}

TEST(ReportTest, SummaryShowsTheFigures) {
  RunResult r = ComputeRunResult({Record()}, *ParseSlo("ttft=50ms"));
  const std::string table = FormatSummary("open loop, poisson 1 req/s", r, std::nullopt);
  EXPECT_THAT(table, HasSubstr("open loop, poisson 1 req/s"));
  EXPECT_THAT(table, HasSubstr("1 measured (1 ok, 0 errors)"));
  EXPECT_THAT(table, HasSubstr("goodput"));
  EXPECT_THAT(table, HasSubstr("0 of 1 requests (0.0%) met ttft=50ms"));
  EXPECT_THAT(table, HasSubstr("TTFT"));
  EXPECT_THAT(table, HasSubstr("cached prefix 8, 50.0%"));
  const std::string sweep = FormatSweepTable("rate", {1, 2}, {r, r});
  EXPECT_THAT(sweep, HasSubstr("TTFT p50"));
  EXPECT_EQ(std::count(sweep.begin(), sweep.end(), '\n'), 3);
}

TEST(ReportTest, QualityLineShowsAgreementAndDivergence) {
  std::vector<QualityPair> pairs(2);
  pairs[0].reference.output_token_ids = {1, 2, 3, 4};
  pairs[0].test.output_token_ids = {1, 2, 7, 4};
  pairs[0].reference.peak_kv_bytes = 2048;
  pairs[0].test.peak_kv_bytes = 1024;
  pairs[1].reference.output_token_ids = {5};
  pairs[1].test.output_token_ids = {5};
  QualityResult q = SummarizeQuality(pairs);
  q.kv_policy = "window:64";
  q.kv_dtype = "any";
  q.reference_kv_dtype = "any";
  const std::string line = FormatQuality(q);
  EXPECT_THAT(line, HasSubstr("window:64/any vs full/any over 2 prompts (0 failed)"));
  EXPECT_THAT(line, HasSubstr("token agreement mean 0.8750, min 0.7500; 1 identical"));
  EXPECT_THAT(line, HasSubstr("first divergence at token p50 2"));
  EXPECT_THAT(line, HasSubstr("reference 1.00 KiB, tested 512 B"));
}

}  // namespace
}  // namespace gqa::loadgen
