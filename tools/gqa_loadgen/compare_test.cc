#include "tools/gqa_loadgen/compare.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa_loadgen/report_json.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

nlohmann::json Result(double ttft_p50, double rps) {
  RunResult r;
  r.ttft_ms.count = 1;
  r.ttft_ms.p50 = ttft_p50;
  r.request_throughput_rps = rps;
  nlohmann::json j = RunResultToJson(r, std::nullopt);
  j["schema"] = kResultSchema;
  return j;
}

TEST(CompareTest, PrintsBothValuesAndTheChange) {
  absl::StatusOr<std::string> table = CompareResults(Result(100, 4), "a.json", Result(150, 5), "b.json");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(*table, HasSubstr("A: a.json"));
  EXPECT_THAT(*table, HasSubstr("B: b.json"));
  EXPECT_THAT(*table, ::testing::ContainsRegex("ttft_ms.p50 +100 +150 +\\+50.0%"));
  EXPECT_THAT(*table, ::testing::ContainsRegex("request_throughput_rps +4 +5 +\\+25.0%"));
}

TEST(CompareTest, ComparesSweepsPointByPoint) {
  nlohmann::json a = {{"schema", kResultSchema}, {"sweep", {{"variable", "rate"}}}};
  nlohmann::json b = a;
  for (double rate : {1.0, 2.0}) {
    nlohmann::json pa = Result(100 * rate, rate);
    pa["rate"] = rate;
    a["points"].push_back(pa);
    nlohmann::json pb = Result(90 * rate, rate);
    pb["rate"] = rate;
    b["points"].push_back(pb);
  }
  absl::StatusOr<std::string> table = CompareResults(a, "a", b, "b");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(*table, HasSubstr("point 2: rate 2 vs 2"));
  EXPECT_THAT(*table, HasSubstr("-10.0%"));
}

TEST(CompareTest, RefusesForeignAndMismatchedFiles) {
  EXPECT_THAT(CompareResults(nlohmann::json{{"x", 1}}, "x.json", Result(1, 1), "b").status().message(),
              HasSubstr("x.json: not a gqa-loadgen result"));
  nlohmann::json sweep = {{"schema", kResultSchema}, {"points", nlohmann::json::array()}};
  EXPECT_THAT(CompareResults(sweep, "a", Result(1, 1), "b").status().message(),
              HasSubstr("sweep"));
  EXPECT_THAT(CompareResultFiles("/nonexistent/a.json", "/nonexistent/b.json").status().message(),
              HasSubstr("/nonexistent/a.json"));
}

}  // namespace
}  // namespace gqa::loadgen
