#include "tools/gqa_loadgen/stats.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

TEST(StatsTest, PercentilesInterpolateBetweenExactRanks) {
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);  // unsorted on purpose
  const Distribution d = Summarize(samples);
  EXPECT_EQ(d.count, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_DOUBLE_EQ(d.min, 1);
  EXPECT_DOUBLE_EQ(d.max, 100);
  // Position q/100 * 99: 49.5 -> 50.5, 89.1 -> 90.1, 94.05 -> 95.05, 98.01 -> 99.01.
  EXPECT_DOUBLE_EQ(d.p50, 50.5);
  EXPECT_NEAR(d.p90, 90.1, 1e-12);
  EXPECT_NEAR(d.p95, 95.05, 1e-12);
  EXPECT_NEAR(d.p99, 99.01, 1e-12);
}

TEST(StatsTest, OddCountMedianIsTheMiddleSample) {
  const Distribution d = Summarize({7, 1, 3});
  EXPECT_DOUBLE_EQ(d.p50, 3);
  EXPECT_DOUBLE_EQ(Percentile(std::vector<double>{1, 3, 7}, 100), 7);
  EXPECT_DOUBLE_EQ(Percentile(std::vector<double>{1, 3, 7}, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(std::vector<double>{1, 3, 7}, 75), 5);
}

TEST(StatsTest, OneSampleAndNone) {
  const Distribution one = Summarize({4.5});
  EXPECT_EQ(one.count, 1);
  EXPECT_DOUBLE_EQ(one.p99, 4.5);
  EXPECT_DOUBLE_EQ(one.p50, 4.5);
  const Distribution none = Summarize({});
  EXPECT_EQ(none.count, 0);
  EXPECT_DOUBLE_EQ(none.p50, 0);
}

TEST(StatsTest, MatchesASortedCopyOnLargeSamples) {
  std::mt19937_64 engine(3);
  std::vector<double> samples;
  for (int i = 0; i < 10001; ++i) samples.push_back(static_cast<double>(engine() % 100000));
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const Distribution d = Summarize(samples);
  EXPECT_DOUBLE_EQ(d.p50, sorted[5000]);  // position 0.5 * 10000, no interpolation
  EXPECT_DOUBLE_EQ(d.p90, sorted[9000]);
  EXPECT_DOUBLE_EQ(d.p99, sorted[9900]);
}

}  // namespace
}  // namespace gqa::loadgen
