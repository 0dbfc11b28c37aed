// StoreExecutor runs every task, on its own threads, and drains its queue
// before the destructor returns.
#include "kvstore/service/store_executor.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

TEST(StoreExecutorTest, RunsEveryTaskOnItsThreads) {
  std::atomic<int> ran{0};
  absl::Mutex mu;
  std::set<std::thread::id> threads;
  {
    StoreExecutor executor(3);
    absl::BlockingCounter done(100);
    for (int i = 0; i < 100; ++i) {
      executor.Schedule([&] {
        ran.fetch_add(1);
        {
          absl::MutexLock lock(&mu);
          threads.insert(std::this_thread::get_id());
        }
        done.DecrementCount();
      });
    }
    done.Wait();
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_LE(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(StoreExecutorTest, TheDestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    StoreExecutor executor(1);
    for (int i = 0; i < 50; ++i) {
      executor.Schedule([&ran] {
        absl::SleepFor(absl::Microseconds(100));
        ran.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(StoreExecutorTest, TasksMayOwnMoveOnlyState) {
  std::atomic<int> value{0};
  {
    StoreExecutor executor(1);
    auto owned = std::make_unique<int>(7);
    executor.Schedule([&value, owned = std::move(owned)] { value = *owned; });
  }
  EXPECT_EQ(value.load(), 7);
}

}  // namespace
}  // namespace gqa::kvstore
