#include "worker/backend/cpu/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(ThreadPoolTest, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(count);
      pool.ParallelFor(count, 3, [&](int64_t begin, int64_t end) {
        EXPECT_LE(end - begin, 3);
        for (int64_t i = begin; i < end; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << i;
    }
  }
}

TEST(ThreadPoolTest, ChunkBoundariesDoNotDependOnThreads) {
  auto boundaries = [](int threads) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int64_t>> ends(100);
    pool.ParallelFor(100, 7, [&](int64_t begin, int64_t end) { ends[begin] = end; });
    std::vector<int64_t> out;
    for (auto& e : ends) out.push_back(e.load());
    return out;
  };
  EXPECT_EQ(boundaries(1), boundaries(3));
}

TEST(ThreadPoolTest, ManyLoopsInARow) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int round = 0; round < 500; ++round) {
    pool.ParallelFor(10, 1, [&](int64_t begin, int64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), 5000);
}

TEST(ThreadPoolTest, DefaultThreadCountSharesCores) {
  EXPECT_GE(DefaultThreadCount(1), 1);
  EXPECT_EQ(DefaultThreadCount(1000000), 1);
}

}  // namespace
}  // namespace gqa
