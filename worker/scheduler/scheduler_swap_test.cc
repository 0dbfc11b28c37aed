// The scheduler with a SwapTier: preempted sequences swap their blocks out
// and continue exactly where they stopped (bounded policies too, which a
// recomputation could not give), and a lost swap falls back to recomputing.
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/scheduler/scheduler.h"

namespace gqa {
namespace {

// Keeps swapped blocks in memory; a load answers on the second TakeLoaded
// (as if it took a while). With lose_everything, loads find nothing.
class InMemorySwapTier final : public SwapTier {
 public:
  explicit InMemorySwapTier(bool lose_everything = false) : lose_everything_(lose_everything) {}
  void Store(const std::string&, const std::string& key,
             std::vector<std::string> payloads) override {
    ++stores;
    if (!lose_everything_) stored[key] = std::move(payloads);
  }
  void Load(const std::string&, const std::string& key, int64_t num_blocks) override {
    pending[key] = 0;
    EXPECT_TRUE(lose_everything_ || static_cast<int64_t>(stored[key].size()) == num_blocks);
  }
  std::optional<absl::StatusOr<std::vector<std::string>>> TakeLoaded(
      const std::string& key) override {
    auto it = pending.find(key);
    EXPECT_NE(it, pending.end()) << "TakeLoaded without Load";
    if (it == pending.end() || it->second++ == 0) return std::nullopt;
    pending.erase(it);
    auto found = stored.find(key);
    if (found == stored.end()) {
      return absl::StatusOr<std::vector<std::string>>(absl::NotFoundError("swap block 0 absent"));
    }
    return absl::StatusOr<std::vector<std::string>>(found->second);
  }
  void Discard(const std::string&, const std::string& key) override {
    ++discards;
    stored.erase(key);
    pending.erase(key);
  }
  void SetOnLoaded(std::function<void()>) override {}

  std::map<std::string, std::vector<std::string>> stored;
  std::map<std::string, int> pending;
  int stores = 0;
  int discards = 0;

 private:
  const bool lose_everything_;
};

class RecordingSink : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate& update) override { tokens.push_back(update.token.token_id); }
  void OnFinish(const SequenceSummary& finished) override { summary = finished; }
  std::vector<int32_t> tokens;
  SequenceSummary summary;
};

std::vector<int32_t> Prompt(int seed, int length) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(length);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 97);
  return ids;
}

TinyEngine MakeEngine(int64_t kv_budget_blocks) {
  TinyEngineOptions options{.seed = 5};
  auto plan = ShardPlan::Make(TinyConfig(4, 2), 1, 0);
  options.kv_budget_bytes =
      kv_budget_blocks * *KvCacheStorage::BytesPerBlock(TinyConfig(4, 2), *plan, DType::kF32, 4);
  return MakeTinyEngine(options);
}

std::vector<int32_t> Alone(TinyEngine& e, const std::vector<int32_t>& prompt, int64_t max_new,
                           KvPolicy policy) {
  OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = prompt;
  request.max_new_tokens = max_new;
  request.sampling.temperature = 0.0f;
  request.kv_policy = policy;
  auto result = generator.Generate(request, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->output_ids : std::vector<int32_t>{};
}

struct Outcome {
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> expected;
  SchedulerStats stats;
  int64_t free_blocks = 0;
};

// Eight sequences of every policy through a pool of 14 blocks (56 slots).
Outcome RunUnderPressure(SwapTier* tier) {
  TinyEngine e = MakeEngine(/*kv_budget_blocks=*/14);
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(),
                      {.max_step_tokens = 64, .max_running = 8, .prefix_caching = false,
                       .swap_tier = tier});
  Outcome outcome;
  for (int i = 0; i < 8; ++i) {
    const std::vector<int32_t> prompt = Prompt(300 + i, 7 + i % 3);
    outcome.expected.push_back(Alone(e, prompt, 24, TinyPolicyCycle(i)));
    outcome.sinks.push_back(std::make_shared<RecordingSink>());
    auto request = std::make_unique<EngineRequest>();
    request->id = absl::StrCat("s", i);
    request->prompt_ids = prompt;
    request->max_new_tokens = 24;
    request->sampling.temperature = 0.0f;
    request->kv_policy = TinyPolicyCycle(i);
    EXPECT_TRUE(scheduler.Add(std::move(request), outcome.sinks.back()).ok());
  }
  for (int step = 0; step < 20000 && !scheduler.idle(); ++step) scheduler.Step();
  EXPECT_TRUE(scheduler.idle());
  outcome.stats = scheduler.stats();
  outcome.free_blocks = scheduler.kv().pool().num_free_blocks();
  return outcome;
}

TEST(SchedulerSwapTest, PreemptedSequencesOfEveryPolicySwapAndContinueExactly) {
  InMemorySwapTier tier;
  const Outcome outcome = RunUnderPressure(&tier);
  int64_t bounded_preemptions = 0;
  for (size_t i = 0; i < outcome.sinks.size(); ++i) {
    EXPECT_EQ(outcome.sinks[i]->summary.finish, EngineFinish::kLength) << "sequence " << i;
    EXPECT_EQ(outcome.sinks[i]->tokens, outcome.expected[i])
        << "sequence " << i << " ("
        << FormatKvPolicy(TinyPolicyCycle(static_cast<int>(i))) << ")";
    if (i % 4 != 0) bounded_preemptions += outcome.sinks[i]->summary.preemptions;
  }
  EXPECT_GT(bounded_preemptions, 0) << "the pool was meant to preempt bounded sequences too";
  EXPECT_GT(outcome.stats.swap_outs_total, 0);
  EXPECT_EQ(outcome.stats.swap_outs_total, outcome.stats.preemptions_total);
  EXPECT_EQ(outcome.stats.swap_ins_total, outcome.stats.swap_outs_total);
  EXPECT_EQ(outcome.stats.swap_fallbacks_total, 0);
  EXPECT_EQ(tier.stores, outcome.stats.swap_outs_total);
  EXPECT_TRUE(tier.stored.empty()) << "restored sequences' blocks are discarded";
  EXPECT_EQ(outcome.free_blocks, 14);
}

TEST(SchedulerSwapTest, ALostSwapIsRecomputedAndFullSequencesStayExact) {
  InMemorySwapTier tier(/*lose_everything=*/true);
  const Outcome outcome = RunUnderPressure(&tier);
  for (size_t i = 0; i < outcome.sinks.size(); ++i) {
    EXPECT_EQ(outcome.sinks[i]->summary.finish, EngineFinish::kLength) << "sequence " << i;
    EXPECT_EQ(outcome.sinks[i]->tokens.size(), 24u) << "sequence " << i;
    // Recomputation is exact for the full policy only (docs/worker.md).
    if (i % 4 == 0) {
      EXPECT_EQ(outcome.sinks[i]->tokens, outcome.expected[i]) << "sequence " << i;
    }
  }
  EXPECT_GT(outcome.stats.swap_outs_total, 0);
  EXPECT_EQ(outcome.stats.swap_fallbacks_total, outcome.stats.swap_outs_total);
  EXPECT_EQ(outcome.stats.swap_ins_total, 0);
  EXPECT_EQ(outcome.free_blocks, 14);
}

TEST(SchedulerSwapTest, CancellingASwappedSequenceDiscardsItsBlocks) {
  InMemorySwapTier tier;
  TinyEngine e = MakeEngine(/*kv_budget_blocks=*/6);
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(),
                      {.max_step_tokens = 64, .max_running = 4, .prefix_caching = false,
                       .swap_tier = &tier});
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 3; ++i) {
    auto request = std::make_unique<EngineRequest>();
    request->id = absl::StrCat("c", i);
    request->prompt_ids = Prompt(50 + i, 6);
    request->max_new_tokens = 12;
    request->sampling.temperature = 0.0f;
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(scheduler.Add(std::move(request), sinks.back()).ok());
  }
  for (int step = 0; step < 200 && tier.stored.empty(); ++step) scheduler.Step();
  ASSERT_FALSE(tier.stored.empty()) << "no sequence was swapped out";
  for (int i = 0; i < 3; ++i) scheduler.Cancel(absl::StrCat("c", i));
  EXPECT_TRUE(tier.stored.empty());
  EXPECT_TRUE(scheduler.idle());
  EXPECT_EQ(scheduler.kv().pool().num_free_blocks(), 6);
}

}  // namespace
}  // namespace gqa
