#include "worker/scheduler/scheduler.h"

#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/tiny_engine.h"

namespace gqa {
namespace {

// Records what the scheduler reports for one sequence.
class RecordingSink : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate& update) override {
    EXPECT_FALSE(finished_) << "token after finish";
    EXPECT_EQ(update.output_idx, static_cast<int64_t>(tokens_.size()) + resumed_);
    tokens_.push_back(update.token.token_id);
  }
  void OnFinish(const SequenceSummary& summary) override {
    EXPECT_FALSE(finished_) << "finished twice";
    finished_ = true;
    summary_ = summary;
  }
  std::vector<int32_t> tokens_;
  int64_t resumed_ = 0;
  bool finished_ = false;
  SequenceSummary summary_;
};

// A tiny GQA model with blocks of 4 tokens; `kv_budget_blocks` > 0 limits
// the pool to that many blocks.
TinyEngine MakeEngine(int64_t kv_budget_blocks = 0) {
  TinyEngineOptions options{.seed = 5};
  if (kv_budget_blocks > 0) {
    auto plan = ShardPlan::Make(TinyConfig(4, 2), 1, 0);
    options.kv_budget_bytes =
        kv_budget_blocks * *KvCacheStorage::BytesPerBlock(TinyConfig(4, 2), *plan, DType::kF32, 4);
  }
  return MakeTinyEngine(options);
}

std::vector<int32_t> Prompt(int seed, int length) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(length);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 97);
  return ids;
}

std::unique_ptr<EngineRequest> Request(const std::string& id, std::vector<int32_t> prompt,
                                       int64_t max_new, KvPolicy policy = KvPolicy::Full()) {
  auto request = std::make_unique<EngineRequest>();
  request->id = id;
  request->prompt_ids = std::move(prompt);
  request->max_new_tokens = max_new;
  request->sampling.temperature = 0.0f;
  request->kv_policy = policy;
  return request;
}

// Greedy tokens of one sequence alone, through the offline generator.
std::vector<int32_t> Alone(TinyEngine& e, const std::vector<int32_t>& prompt, int64_t max_new,
                           KvPolicy policy = KvPolicy::Full()) {
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

void RunToIdle(Scheduler& scheduler, int max_steps = 10000) {
  for (int i = 0; i < max_steps && !scheduler.idle(); ++i) scheduler.Step();
  ASSERT_TRUE(scheduler.idle());
}

TEST(SchedulerTest, ManyConcurrentSequencesGiveTheTokensOfEachAlone) {
  TinyEngine e = MakeEngine();
  // A small token budget mixes prefill chunks of several sizes with decode.
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(),
                      {.max_step_tokens = 23, .max_running = 64});
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 24; ++i) {
    const std::vector<int32_t> prompt = Prompt(i, 3 + i % 11);
    const KvPolicy policy = i % 3 == 2 ? KvPolicy::Streaming(2, 6) : KvPolicy::Full();
    const int64_t max_new = 5 + i % 7;
    expected.push_back(Alone(e, prompt, max_new, policy));
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(scheduler.Add(Request(absl::StrCat("r", i), prompt, max_new, policy), sinks.back()).ok());
  }
  RunToIdle(scheduler);
  for (size_t i = 0; i < sinks.size(); ++i) {
    EXPECT_TRUE(sinks[i]->finished_);
    EXPECT_EQ(sinks[i]->summary_.finish, EngineFinish::kLength);
    EXPECT_EQ(sinks[i]->tokens_, expected[i]) << "sequence " << i;
  }
  EXPECT_EQ(scheduler.kv().pool().num_free_blocks(), e.storage->num_blocks());
  EXPECT_EQ(scheduler.stats().finished_total, 24);
}

TEST(SchedulerTest, TinyPoolPreemptsAndStillCompletesEverySequenceIdentically) {
  TinyEngine e = MakeEngine(/*kv_budget_blocks=*/12);  // 48 token slots for 8 sequences
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(),
                      {.max_step_tokens = 64, .max_running = 8, .prefix_caching = false});
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 8; ++i) {
    const std::vector<int32_t> prompt = Prompt(100 + i, 6);
    expected.push_back(Alone(e, prompt, 14));
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(scheduler.Add(Request(absl::StrCat("p", i), prompt, 14), sinks.back()).ok());
  }
  RunToIdle(scheduler);
  int64_t preemptions = 0;
  for (size_t i = 0; i < sinks.size(); ++i) {
    EXPECT_EQ(sinks[i]->tokens_, expected[i]) << "sequence " << i;
    preemptions += sinks[i]->summary_.preemptions;
  }
  EXPECT_GT(preemptions, 0);
  EXPECT_EQ(scheduler.stats().preemptions_total, preemptions);
  EXPECT_EQ(scheduler.kv().pool().num_free_blocks(), 12);
}

TEST(SchedulerTest, CancelAndDeadlinesFreeEverythingAtOnce) {
  TinyEngine e = MakeEngine();
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(), {});
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler.Add(Request("a", Prompt(1, 9), 50), a).ok());
  auto late = Request("b", Prompt(2, 9), 50);
  late->deadline_ns = Env::Default()->NowNanos() - 1;  // already past
  ASSERT_TRUE(scheduler.Add(std::move(late), b).ok());
  scheduler.Step();
  scheduler.Step();
  EXPECT_TRUE(b->finished_);
  EXPECT_EQ(b->summary_.finish, EngineFinish::kDeadline);
  EXPECT_FALSE(a->finished_);
  EXPECT_GT(scheduler.kv().pool().num_used_blocks(), 0);
  EXPECT_TRUE(scheduler.Cancel("a"));
  EXPECT_FALSE(scheduler.Cancel("a"));
  EXPECT_TRUE(a->finished_);
  EXPECT_EQ(a->summary_.finish, EngineFinish::kCancelled);
  EXPECT_EQ(a->tokens_.size(), 2u);  // prefill + one decode step
  EXPECT_EQ(scheduler.kv().pool().num_used_blocks(), 0);
  EXPECT_TRUE(scheduler.idle());
}

TEST(SchedulerTest, HigherPriorityRunsFirstAndFcfsWithinAPriority) {
  TinyEngine e = MakeEngine();
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(), {.max_running = 1});
  std::vector<std::string> order;
  class OrderSink : public SequenceSink {
   public:
    OrderSink(std::vector<std::string>* order, std::string id) : order_(order), id_(std::move(id)) {}
    void OnToken(const SequenceUpdate&) override {}
    void OnFinish(const SequenceSummary&) override { order_->push_back(id_); }
    std::vector<std::string>* order_;
    std::string id_;
  };
  for (const auto& [id, priority] : std::vector<std::pair<std::string, int>>{
           {"low1", 0}, {"high", 5}, {"low2", 0}, {"mid", 2}}) {
    auto request = Request(id, Prompt(7, 4), 2);
    request->priority = priority;
    ASSERT_TRUE(scheduler.Add(std::move(request), std::make_shared<OrderSink>(&order, id)).ok());
  }
  RunToIdle(scheduler);
  EXPECT_EQ(order, (std::vector<std::string>{"high", "mid", "low1", "low2"}));
}

TEST(SchedulerTest, FullQueueAndDuplicateIdsAreRefused) {
  TinyEngine e = MakeEngine();
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(), {.max_waiting = 2});
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler.Add(Request("x", Prompt(1, 3), 2), sink).ok());
  EXPECT_EQ(scheduler.Add(Request("x", Prompt(1, 3), 2), sink).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(scheduler.Add(Request("y", Prompt(1, 3), 2), std::make_shared<RecordingSink>()).ok());
  EXPECT_EQ(scheduler.Add(Request("z", Prompt(1, 3), 2), sink).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SchedulerTest, ASequenceLargerThanThePoolFailsInsteadOfWaitingForever) {
  TinyEngine e = MakeEngine(/*kv_budget_blocks=*/4);  // 16 token slots
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(), {});
  auto big = std::make_shared<RecordingSink>();
  auto small = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler.Add(Request("big", Prompt(1, 40), 4), big).ok());
  ASSERT_TRUE(scheduler.Add(Request("small", Prompt(2, 5), 4), small).ok());
  RunToIdle(scheduler, 100);
  EXPECT_EQ(big->summary_.finish, EngineFinish::kError);
  EXPECT_EQ(big->summary_.error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(small->summary_.finish, EngineFinish::kLength);  // not stuck behind it
  EXPECT_EQ(small->tokens_.size(), 4u);
}

TEST(SchedulerTest, ResumedRequestContinuesExactly) {
  TinyEngine e = MakeEngine();
  const std::vector<int32_t> prompt = Prompt(9, 7);
  const std::vector<int32_t> expected = Alone(e, prompt, 12);
  Scheduler scheduler(e.model.get(), e.storage.get(), Env::Default(), {});
  auto request = Request("resume", prompt, 12);
  request->output_ids.assign(expected.begin(), expected.begin() + 5);
  auto sink = std::make_shared<RecordingSink>();
  sink->resumed_ = 5;
  ASSERT_TRUE(scheduler.Add(std::move(request), sink).ok());
  RunToIdle(scheduler);
  EXPECT_EQ(sink->tokens_, std::vector<int32_t>(expected.begin() + 5, expected.end()));
  EXPECT_EQ(sink->summary_.generated_tokens, 12);
}

TEST(EngineRequestTest, BadInputNamesTheFieldAndTheLimit) {
  const ModelConfig config = TinyConfig(4, 2);
  EngineRequest request;
  EXPECT_NE(ValidateEngineRequest(request, config).message().find("prompt_token_ids is empty"),
            std::string::npos);
  request.prompt_ids = {1, 200};
  EXPECT_NE(ValidateEngineRequest(request, config).message().find("prompt_token_ids[1] = 200"),
            std::string::npos);
  request.prompt_ids = {1, 2};
  request.max_new_tokens = 255;
  EXPECT_NE(ValidateEngineRequest(request, config).message().find("trained context of 256"),
            std::string::npos);
  request.kv_policy = KvPolicy::Window(16);
  EXPECT_TRUE(ValidateEngineRequest(request, config).ok());
  request.sampling.temperature = -1;
  EXPECT_EQ(ValidateEngineRequest(request, config).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa
