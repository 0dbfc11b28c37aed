// An engine loop whose KV pool is too small for its sequences swaps the
// preempted ones out to a kvstore (a real gqa.v1.KvStore server on
// loopback) and back: every sequence, of every KV policy, gives the tokens
// it gives alone, and the swapped blocks are deleted once restored. Without
// a reachable kvstore the same load completes by recomputation.
#include "worker/service/kvstore_swap_tier.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kvstore/service/testing/kvstore_test_server.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/service/engine_loop.h"

namespace gqa {
namespace {

constexpr int kSequences = 8;
constexpr int64_t kMaxNew = 20;
constexpr int64_t kPoolBlocks = 14;

class CollectingSink final : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate& update) override { tokens.push_back(update.token.token_id); }
  void OnFinish(const SequenceSummary& finished) override {
    summary = finished;
    done.Notify();
  }
  std::vector<int32_t> tokens;
  SequenceSummary summary;
  absl::Notification done;
};

std::vector<int32_t> Prompt(int i) {
  std::mt19937 rng(700 + i);
  std::vector<int32_t> ids(7 + i % 3);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 97);
  return ids;
}

TinyEngine MakeEngine(int64_t pool_blocks, DType dtype) {
  TinyEngineOptions options{.seed = 9};
  options.kv_dtype = dtype;
  if (pool_blocks > 0) {
    auto plan = ShardPlan::Make(TinyConfig(4, 2), 1, 0);
    options.kv_budget_bytes =
        pool_blocks * *KvCacheStorage::BytesPerBlock(TinyConfig(4, 2), *plan, dtype, 4);
  }
  return MakeTinyEngine(options);
}

std::vector<int32_t> Alone(TinyEngine& e, int i) {
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = Prompt(i);
  request.max_new_tokens = kMaxNew;
  request.sampling.temperature = 0.0f;
  request.kv_policy = TinyPolicyCycle(i);
  auto result = generator.Generate(request, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->output_ids : std::vector<int32_t>{};
}

std::unique_ptr<KvStoreSwapTier> MakeTier(const std::string& address, const TinyEngine& e) {
  KvStoreSwapTierOptions options;
  options.geometry = KvStoreBlockGeometry::Of(*e.model, *e.storage);
  options.swap_ttl_ms = 60000;
  kvstore::KvStoreClientOptions client_options;
  client_options.timeout = absl::Seconds(5);
  return std::make_unique<KvStoreSwapTier>(
      std::make_unique<kvstore::KvStoreClient>(
          kvstore::NewKvStoreChannel(address, grpc::InsecureChannelCredentials()),
          client_options),
      options);
}

struct LoadResult {
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  SchedulerStats stats;
};

LoadResult RunUnderPressure(TinyEngine& e, SwapTier* tier) {
  SchedulerOptions options{.max_step_tokens = 64, .max_running = kSequences,
                           .prefix_caching = false, .swap_tier = tier};
  EngineLoop loop(e.model.get(), e.storage.get(), Env::Default(), options);
  LoadResult run;
  for (int i = 0; i < kSequences; ++i) {
    auto request = std::make_unique<EngineRequest>();
    request->id = absl::StrCat("seq-", i);
    request->tenant = i % 2 == 0 ? "tenant-a" : "";
    request->prompt_ids = Prompt(i);
    request->max_new_tokens = kMaxNew;
    request->sampling.temperature = 0.0f;
    request->kv_policy = TinyPolicyCycle(i);
    run.sinks.push_back(std::make_shared<CollectingSink>());
    EXPECT_TRUE(loop.Submit(std::move(request), run.sinks.back()).ok());
  }
  for (auto& sink : run.sinks) EXPECT_TRUE(sink->done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  run.stats = loop.stats();
  return run;
}

TEST(KvStoreSwapTierTest, PreemptedSequencesSwapThroughTheKvstoreAndContinueExactly) {
  absl::StatusOr<std::unique_ptr<kvstore::KvStoreTestServer>> server =
      kvstore::KvStoreTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  for (DType dtype : {DType::kF32, DType::kFp8E4M3}) {
    SCOPED_TRACE(DTypeName(dtype));
    TinyEngine roomy = MakeEngine(0, dtype);
    TinyEngine tight = MakeEngine(kPoolBlocks, dtype);
    std::unique_ptr<KvStoreSwapTier> tier = MakeTier((*server)->address(), tight);
    const LoadResult run = RunUnderPressure(tight, tier.get());
    for (int i = 0; i < kSequences; ++i) {
      EXPECT_EQ(run.sinks[i]->summary.finish, EngineFinish::kLength) << "sequence " << i;
      EXPECT_EQ(run.sinks[i]->tokens, Alone(roomy, i))
          << "sequence " << i << " (" << FormatKvPolicy(TinyPolicyCycle(i)) << ")";
    }
    EXPECT_GT(run.stats.swap_outs_total, 0);
    EXPECT_EQ(run.stats.swap_ins_total, run.stats.swap_outs_total);
    EXPECT_EQ(run.stats.swap_fallbacks_total, 0);
    EXPECT_GT(tier->num_stored_blocks(), 0);
    EXPECT_EQ(tier->num_failed_stores(), 0);
    // Restored sequences' blocks are deleted from the store.
    kvstore::KvStoreClient client((*server)->Channel());
    int64_t left = -1;
    for (int attempt = 0; attempt < 100 && left != 0; ++attempt) {
      absl::StatusOr<kvstore::StoreStats> stats = client.Stats();
      ASSERT_TRUE(stats.ok()) << stats.status();
      left = 0;
      for (const kvstore::TierStats& t : stats->tiers) left += t.num_swap_blocks;
      if (left != 0) absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_EQ(left, 0);
  }
}

TEST(KvStoreSwapTierTest, AnUnreachableKvstoreFallsBackToRecomputation) {
  TinyEngine roomy = MakeEngine(0, DType::kF32);
  TinyEngine tight = MakeEngine(kPoolBlocks, DType::kF32);
  std::unique_ptr<KvStoreSwapTier> tier = MakeTier("127.0.0.1:1", tight);  // nothing listens
  const LoadResult run = RunUnderPressure(tight, tier.get());
  for (int i = 0; i < kSequences; ++i) {
    EXPECT_EQ(run.sinks[i]->summary.finish, EngineFinish::kLength) << "sequence " << i;
    EXPECT_EQ(run.sinks[i]->tokens.size(), static_cast<size_t>(kMaxNew)) << "sequence " << i;
    if (i % 4 == 0) {
      EXPECT_EQ(run.sinks[i]->tokens, Alone(roomy, i)) << "sequence " << i;
    }
  }
  EXPECT_GT(run.stats.swap_outs_total, 0);
  EXPECT_EQ(run.stats.swap_fallbacks_total, run.stats.swap_outs_total);
  EXPECT_GT(tier->num_failed_stores(), 0);
}

}  // namespace
}  // namespace gqa
