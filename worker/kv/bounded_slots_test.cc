#include "worker/kv/bounded_slots.h"

#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAreArray;

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> out(end - begin);
  std::iota(out.begin(), out.end(), begin);
  return out;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Runs `steps` of `chunk` tokens, growing capacity as the cache manager would.
void Step(BoundedSlots& slots, int64_t& next, int64_t chunk) {
  while (slots.free_slots() < chunk) slots.Grow(4);
  slots.Place(next, chunk);
  next += chunk;
  slots.Evict(next - 1);
}

TEST(BoundedSlotsTest, StreamingKeepsSinksAndTheRecentWindowAfterEveryStep) {
  BoundedSlots slots(KvPolicy::Streaming(4, 8), 2, 3, 24);
  int64_t next = 0;
  for (int step = 0; step < 40; ++step) {
    Step(slots, next, 1);
    const int32_t last = static_cast<int32_t>(next - 1);
    // The next query sees the sinks, the W - 1 most recent, and itself.
    const std::vector<int32_t> expected =
        last < 4 + 7 ? Range(0, last + 1) : Concat(Range(0, 4), Range(last - 6, last + 1));
    ASSERT_THAT(slots.HeldPositions(0), ElementsAreArray(expected)) << "after position " << last;
    EXPECT_LE(slots.capacity(), 12);  // the bound, never more in decode steps
  }
  EXPECT_FALSE(slots.per_head());
  EXPECT_EQ(slots.num_sinks(), 4);
  EXPECT_EQ(slots.recent_window(), 8);
  EXPECT_EQ(slots.CachePosition(5), 5);
  EXPECT_EQ(slots.CachePosition(1000), 11);
}

TEST(BoundedSlotsTest, WindowKeepsOnlyTheRecentTokensWithChunkedSteps) {
  BoundedSlots slots(KvPolicy::Window(6), 1, 1, 32);
  int64_t next = 0;
  for (int step = 0; step < 10; ++step) {
    Step(slots, next, 3);
    const int32_t last = static_cast<int32_t>(next - 1);
    ASSERT_THAT(slots.HeldPositions(0), ElementsAreArray(Range(std::max(0, last - 4), last + 1)));
  }
  EXPECT_EQ(slots.num_sinks(), 0);
  EXPECT_EQ(slots.CachePosition(100), 100);  // no sinks: nothing to re-rotate
}

TEST(BoundedSlotsTest, FreedSlotsAreReusedSoTheFootprintStaysConstant) {
  BoundedSlots slots(KvPolicy::Streaming(2, 6), 1, 1, 16);
  int64_t next = 0;
  for (int step = 0; step < 100; ++step) Step(slots, next, 1);
  EXPECT_EQ(slots.capacity(), 8);
  EXPECT_EQ(slots.tokens_held(), 7);
  EXPECT_EQ(slots.free_slots(), 1);
}

TEST(BoundedSlotsTest, H2oKeepsTheHeaviestPerLayerAndHeadPlusTheRecent) {
  // h2o:2+3, 2 layers x 2 heads. Scores are fed by hand: for map m, slot
  // holding position p receives weight[m][p] each step.
  BoundedSlots slots(KvPolicy::H2o(2, 3), 2, 2, 16);
  ASSERT_TRUE(slots.per_head());
  ASSERT_EQ(slots.num_maps(), 4);
  // Map-specific heavy tokens: map 0 favours 1 and 5, map 3 favours 0 and 2.
  auto weight = [](int64_t map, int32_t position) -> float {
    if (map == 0) return position == 1 || position == 5 ? 1.0f : 0.01f;
    if (map == 3) return position == 0 || position == 2 ? 1.0f : 0.01f;
    return 0.01f;  // all equal: ties evict the older token
  };
  int64_t next = 0;
  for (int step = 0; step < 12; ++step) {
    while (slots.free_slots() < 1) slots.Grow(4);
    slots.Place(next, 1);
    ++next;
    for (int64_t m = 0; m < slots.num_maps(); ++m) {
      std::vector<float> sums(slots.capacity(), 0.0f);
      for (int64_t s = 0; s < slots.capacity(); ++s) {
        if (slots.positions(m)[s] >= 0) sums[s] = weight(m, slots.positions(m)[s]);
      }
      slots.AddScores(m, sums);
    }
    slots.Evict(next - 1);
  }
  // After position 11: recent (R - 1 = 2) = {10, 11}; plus the 2 heaviest.
  EXPECT_THAT(slots.HeldPositions(slots.MapOf(0, 0)), ElementsAreArray({1, 5, 10, 11}));
  EXPECT_THAT(slots.HeldPositions(slots.MapOf(1, 1)), ElementsAreArray({0, 2, 10, 11}));
  // Equal per-step weights: older tokens have accumulated more, so the
  // oldest survive (the heavy-hitter effect of accumulation).
  EXPECT_THAT(slots.HeldPositions(slots.MapOf(0, 1)), ElementsAreArray({0, 1, 10, 11}));
  EXPECT_EQ(slots.tokens_held(), 4);
}

TEST(BoundedSlotsTest, H2oTiesEvictTheOlderToken) {
  BoundedSlots slots(KvPolicy::H2o(1, 1), 1, 1, 8);
  slots.Grow(8);
  slots.Place(0, 3);  // positions 0, 1, 2 with equal (zero) scores
  slots.Evict(2);     // keep H + R - 1 = 1: the newest of the tied candidates
  EXPECT_THAT(slots.HeldPositions(0), ElementsAreArray({2}));
}

TEST(BoundedSlotsTest, EvictionNeverTouchesASequenceWithinItsBound) {
  BoundedSlots slots(KvPolicy::H2o(8, 8), 1, 1, 32);
  int64_t next = 0;
  std::mt19937 rng(3);
  for (int step = 0; step < 5; ++step) {
    while (slots.free_slots() < 3) slots.Grow(4);
    slots.Place(next, 3);
    next += 3;
    std::vector<float> sums(slots.capacity());
    for (float& s : sums) s = static_cast<float>(rng() % 100);
    slots.AddScores(0, sums);
    EXPECT_EQ(slots.Evict(next - 1), 0);
  }
  EXPECT_THAT(slots.HeldPositions(0), ElementsAreArray(Range(0, 15)));
}

}  // namespace
}  // namespace gqa
