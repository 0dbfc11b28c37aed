#include "tools/gqa_loadgen/arrival_schedule.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

std::vector<double> GapsSeconds(ArrivalOptions options, int n) {
  absl::StatusOr<ArrivalSchedule> schedule = ArrivalSchedule::Create(options);
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  std::vector<double> gaps;
  int64_t previous = schedule->NextOffsetNs();
  EXPECT_EQ(previous, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t next = schedule->NextOffsetNs();
    EXPECT_GE(next, previous);
    gaps.push_back(static_cast<double>(next - previous) / 1e9);
    previous = next;
  }
  return gaps;
}

struct Moments {
  double mean = 0;
  double cv = 0;  // standard deviation / mean
};

Moments Measure(const std::vector<double>& gaps) {
  double sum = 0;
  for (double g : gaps) sum += g;
  const double mean = sum / gaps.size();
  double var = 0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= gaps.size() - 1;
  return Moments{mean, std::sqrt(var) / mean};
}

TEST(ArrivalScheduleTest, PoissonGapsAreExponentialAtTheRate) {
  ArrivalOptions options;
  options.rate_per_s = 10;
  options.seed = 1;
  const std::vector<double> gaps = GapsSeconds(options, 20000);
  const Moments m = Measure(gaps);
  EXPECT_NEAR(m.mean, 0.1, 0.1 * 0.02);
  EXPECT_NEAR(m.cv, 1.0, 0.03);
  // The exponential's median is mean * ln 2; its tail P(gap > 3 mean) = e^-3.
  int below_median = 0;
  int beyond_three = 0;
  for (double g : gaps) {
    below_median += g < 0.1 * std::log(2.0);
    beyond_three += g > 0.3;
  }
  EXPECT_NEAR(below_median / 20000.0, 0.5, 0.015);
  EXPECT_NEAR(beyond_three / 20000.0, std::exp(-3.0), 0.006);
}

TEST(ArrivalScheduleTest, GammaKeepsTheRateAndSetsTheBurstiness) {
  for (double shape : {0.25, 4.0}) {
    ArrivalOptions options;
    options.kind = ArrivalKind::kGamma;
    options.rate_per_s = 50;
    options.gamma_shape = shape;
    options.seed = 7;
    const Moments m = Measure(GapsSeconds(options, 40000));
    EXPECT_NEAR(m.mean, 0.02, 0.02 * 0.03) << "shape " << shape;
    EXPECT_NEAR(m.cv, 1.0 / std::sqrt(shape), 0.05 / std::sqrt(shape)) << "shape " << shape;
  }
}

TEST(ArrivalScheduleTest, ConstantGapsAreExact) {
  ArrivalOptions options;
  options.kind = ArrivalKind::kConstant;
  options.rate_per_s = 4;
  absl::StatusOr<ArrivalSchedule> schedule = ArrivalSchedule::Create(options);
  ASSERT_TRUE(schedule.ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(schedule->NextOffsetNs(), i * 250'000'000LL);
}

TEST(ArrivalScheduleTest, TheSeedDecidesTheSchedule) {
  ArrivalOptions options;
  options.rate_per_s = 3;
  options.seed = 42;
  const std::vector<double> a = GapsSeconds(options, 100);
  EXPECT_EQ(a, GapsSeconds(options, 100));
  options.seed = 43;
  EXPECT_NE(a, GapsSeconds(options, 100));
}

TEST(ArrivalScheduleTest, RefusesBadRatesAndShapes) {
  ArrivalOptions options;
  options.rate_per_s = 0;
  EXPECT_THAT(ArrivalSchedule::Create(options).status().message(), HasSubstr("--rate"));
  options.rate_per_s = 1;
  options.gamma_shape = -1;
  EXPECT_THAT(ArrivalSchedule::Create(options).status().message(), HasSubstr("--burstiness"));
  EXPECT_THAT(ParseArrivalKind("bursty").status().message(), HasSubstr("--arrival"));
  EXPECT_EQ(*ParseArrivalKind("gamma"), ArrivalKind::kGamma);
}

}  // namespace
}  // namespace gqa::loadgen
