// EngineLoop sends every cache watcher a fresh snapshot once per
// cache_snapshot_interval, even while it has nothing else to do.
#include <numeric>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/service/engine_loop.h"

namespace gqa {
namespace {

class SnapshotCounter final : public CacheWatcher {
 public:
  bool OnSnapshot(uint64_t, const std::vector<BlockId>& ids) override {
    absl::MutexLock lock(&mu);
    ++snapshots;
    last_size = ids.size();
    return true;
  }
  bool OnChange(uint64_t, bool, const std::vector<BlockId>&) override { return true; }
  bool WantsSnapshot() override { return false; }
  int count() {
    absl::MutexLock lock(&mu);
    return snapshots;
  }
  absl::Mutex mu;
  int snapshots ABSL_GUARDED_BY(mu) = 0;
  size_t last_size ABSL_GUARDED_BY(mu) = 0;
};

class DoneSink final : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate&) override {}
  void OnFinish(const SequenceSummary&) override { done.Notify(); }
  absl::Notification done;
};

TEST(EngineLoopSnapshotTest, WatchersGetAFreshSnapshotEveryIntervalWhileIdle) {
  TinyEngine e = MakeTinyEngine({});
  EngineLoop loop(e.model.get(), e.storage.get(), Env::Default(), SchedulerOptions(), nullptr,
                  nullptr, absl::Milliseconds(50));
  auto watcher = std::make_shared<SnapshotCounter>();
  loop.Watch(watcher);
  auto request = std::make_unique<EngineRequest>();
  request->id = std::string("snapshot-test-request");
  request->prompt_ids.resize(13);  // 3 full blocks of 4
  std::iota(request->prompt_ids.begin(), request->prompt_ids.end(), 1);
  request->max_new_tokens = 2;
  auto sink = std::make_shared<DoneSink>();
  ASSERT_TRUE(loop.Submit(std::move(request), sink).ok());
  ASSERT_TRUE(sink->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const int after_request = watcher->count();
  EXPECT_GE(after_request, 1);  // the first snapshot on registration
  absl::SleepFor(absl::Milliseconds(400));  // idle: only the interval wakes the loop
  EXPECT_GE(watcher->count(), after_request + 3);
  absl::MutexLock lock(&watcher->mu);
  EXPECT_GE(watcher->last_size, 3u);  // the request's cached blocks are in it
}

TEST(EngineLoopSnapshotTest, NoPeriodicSnapshotBeforeTheInterval) {
  TinyEngine e = MakeTinyEngine({});
  EngineLoop loop(e.model.get(), e.storage.get(), Env::Default(), SchedulerOptions(), nullptr,
                  nullptr, absl::Seconds(60));
  auto watcher = std::make_shared<SnapshotCounter>();
  loop.Watch(watcher);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(watcher->count(), 1);
}

}  // namespace
}  // namespace gqa
