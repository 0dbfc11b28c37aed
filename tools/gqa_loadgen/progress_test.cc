#include "tools/gqa_loadgen/progress.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

TEST(ProgressTest, LineShowsRateLatenciesAndProgress) {
  LiveStats s;
  s.num_planned = 200;
  s.num_done = 50;
  s.recent_rps = 9.75;
  s.recent_ttft_p50_ms = 102.3;
  s.recent_tpot_p50_ms = 20.12;
  s.num_in_flight = 12;
  s.num_errors = 1;
  const std::string line = FormatProgressLine(s);
  EXPECT_THAT(line, HasSubstr("[#####...............]  25% 50/200 req"));
  EXPECT_THAT(line, HasSubstr("9.8 req/s"));
  EXPECT_THAT(line, HasSubstr("TTFT p50 102.3 ms"));
  EXPECT_THAT(line, HasSubstr("TPOT p50 20.12 ms"));
  EXPECT_THAT(line, HasSubstr("in flight 12"));
  EXPECT_THAT(line, HasSubstr("errors 1"));
}

TEST(ProgressTest, DurationRunsShowSeconds) {
  LiveStats s;
  s.planned_s = 60;
  s.elapsed_s = 30;
  s.num_done = 7;
  s.warming_up = true;
  const std::string line = FormatProgressLine(s);
  EXPECT_THAT(line, HasSubstr(" 50% 30/60 s, 7 req"));
  EXPECT_THAT(line, HasSubstr("(warm-up)"));
}

}  // namespace
}  // namespace gqa::loadgen
