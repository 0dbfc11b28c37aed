// The scheduler leading a tensor-parallel group (ranks as threads, Gloo on
// loopback): many sequences of every KV policy (h2o's evictions decided on
// rank 0 from every rank's column sums: rank_heads.h), shared prompt prefixes
// (copy-on-write block copies) and a pool small enough to preempt, at tp=2
// and tp=4 (KV heads replicated) give every sequence the tokens of the same
// schedule at tp=1. The followers see the batches only as step-plan deltas
// (step_plan.h), so this is their end-to-end check.
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/engine/tp_follower.h"
#include "worker/parallel/gloo/thread_group.h"
#include "worker/scheduler/scheduler.h"

namespace gqa {
namespace {

constexpr int64_t kBlockSize = 4;
constexpr int64_t kPoolBlocks = 24;
constexpr int kSequences = 10;
constexpr int64_t kMaxNew = 20;

class RecordingSink : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate& update) override { tokens.push_back(update.token.token_id); }
  void OnFinish(const SequenceSummary& finished) override { summary = finished; }
  std::vector<int32_t> tokens;
  SequenceSummary summary;
};

// Prompts share their first 8 tokens in pairs, so prefix caching shares blocks.
std::vector<int32_t> Prompt(int i) {
  std::mt19937 shared(1000 + i / 2), own(2000 + i);
  std::vector<int32_t> ids;
  for (int k = 0; k < 8; ++k) ids.push_back(static_cast<int32_t>(shared() % 96));
  for (int k = 0; k < 3 + i % 5; ++k) ids.push_back(static_cast<int32_t>(own() % 96));
  return ids;
}

struct LeaderRun {
  std::vector<std::vector<int32_t>> tokens;  // per sequence
  SchedulerStats stats;
  bool ok = false;
};

// One rank: rank 0 schedules every sequence, the others follow.
LeaderRun RunRank(int tp, int rank, Communicator* comm) {
  LeaderRun run;
  auto backend = MakeCpuBackend({.num_threads = 1});
  const ModelConfig config = TinyGqa82Config();
  auto plan = ShardPlan::Make(config, tp, rank);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return run;
  auto model = Model::Create(MakeTinyModel(config, 7), *plan, backend.get(), comm);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return run;
  // The same number of blocks on every rank and at every tp.
  const int64_t block_bytes = *KvCacheStorage::BytesPerBlock(config, *plan, DType::kF32, kBlockSize);
  auto storage = KvCacheStorage::Create(backend.get(), config, *plan,
                                        {DType::kF32, kBlockSize, kPoolBlocks * block_bytes});
  EXPECT_TRUE(storage.ok()) << storage.status();
  if (!storage.ok()) return run;
  if (rank > 0) {
    const absl::Status followed = RunFollower(**model, **storage, *comm);
    EXPECT_TRUE(followed.ok()) << "rank " << rank << ": " << followed;
    run.ok = followed.ok();
    return run;
  }
  Scheduler scheduler(model->get(), storage->get(), Env::Default(),
                      {.max_step_tokens = 32, .max_running = 8, .prefix_caching = true});
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < kSequences; ++i) {
    auto request = std::make_unique<EngineRequest>();
    request->id = absl::StrCat("s", i);
    request->prompt_ids = Prompt(i);
    request->max_new_tokens = kMaxNew;
    request->sampling.temperature = 0.0f;
    request->kv_policy = TinyPolicyCycle(i);
    sinks.push_back(std::make_shared<RecordingSink>());
    EXPECT_TRUE(scheduler.Add(std::move(request), sinks.back()).ok());
  }
  for (int step = 0; step < 5000 && !scheduler.idle(); ++step) scheduler.Step();
  EXPECT_TRUE(scheduler.idle());
  for (const auto& sink : sinks) {
    EXPECT_EQ(sink->summary.finish, EngineFinish::kLength);
    run.tokens.push_back(sink->tokens);
  }
  run.stats = scheduler.stats();
  EXPECT_TRUE((*model)->EndGroup().ok());
  run.ok = true;
  return run;
}

LeaderRun RunGroup(int tp) {
  if (tp == 1) return RunRank(1, 0, nullptr);
  std::vector<LeaderRun> runs(tp);
  const absl::Status group = RunThreadGroup(
      tp, std::chrono::milliseconds(60000),
      [&](int rank, Communicator* comm) { runs[rank] = RunRank(tp, rank, comm); });
  EXPECT_TRUE(group.ok()) << group;
  for (int rank = 1; rank < tp; ++rank) EXPECT_TRUE(runs[rank].ok) << "rank " << rank;
  return runs[0];
}

TEST(SchedulerTpTest, EveryPolicyUnderPreemptionMatchesTp1) {
  const LeaderRun tp1 = RunGroup(1);
  ASSERT_TRUE(tp1.ok);
  ASSERT_EQ(tp1.tokens.size(), static_cast<size_t>(kSequences));
  EXPECT_GT(tp1.stats.preemptions_total, 0) << "the pool was meant to preempt";
  for (int tp : {2, 4}) {
    const LeaderRun group = RunGroup(tp);
    ASSERT_TRUE(group.ok) << "tp " << tp;
    // F32 weights: only the order of the all-reduce's sums differs, and this
    // fixed workload has no near-tie, so every token is the same.
    for (int i = 0; i < kSequences; ++i) {
      EXPECT_EQ(group.tokens[i], tp1.tokens[i])
          << "tp " << tp << " sequence " << i << " (" << FormatKvPolicy(TinyPolicyCycle(i)) << ")";
    }
    EXPECT_EQ(group.stats.preemptions_total, tp1.stats.preemptions_total) << "tp " << tp;
  }
}

}  // namespace
}  // namespace gqa
