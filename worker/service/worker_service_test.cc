// The gqa.v1.Worker service over real gRPC on a loopback port, on a tiny
// random model: concurrent streams, cancellation, preemption, bad input.
#include "worker/service/worker_service.h"

#include <set>
#include <thread>

#include <grpcpp/create_channel.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"
#include "gtest/gtest.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/service/engine_loop.h"
#include "worker/service/fake_engine.h"

namespace gqa {
namespace {

// A worker over a tiny GQA model with 4-token blocks; `kv_blocks` > 0 limits the pool.
class WorkerServer {
 public:
  explicit WorkerServer(int64_t kv_blocks = 0) {
    TinyEngineOptions options{.seed = 3};
    if (kv_blocks > 0) {
      auto plan = ShardPlan::Make(TinyConfig(4, 2), 1, 0);
      options.kv_budget_bytes =
          kv_blocks * *KvCacheStorage::BytesPerBlock(TinyConfig(4, 2), *plan, DType::kF32, 4);
    }
    engine_ = MakeTinyEngine(options);
    metrics_ = std::make_unique<WorkerMetrics>(registry_, 1.0);
    loop_ = std::make_unique<EngineLoop>(engine_.model.get(), engine_.storage.get(),
                                         Env::Default(), SchedulerOptions{.max_running = 32},
                                         metrics_.get());
    WorkerInfo info;
    info.model_name = "tiny";
    info.kv_dtype = DType::kF32;
    info.block_size = 4;
    info.num_kv_blocks = engine_.storage->num_blocks();
    service_ = std::make_unique<WorkerService>(loop_.get(), info);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~WorkerServer() {
    server_->Shutdown();
    loop_.reset();
  }
  std::unique_ptr<v1::Worker::Stub> Stub() const {
    return v1::Worker::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }
  TinyEngine& engine() { return engine_; }
  // The metrics in Prometheus' text format, as /metrics serves them.
  std::string ScrapeMetrics() const {
    return prometheus::TextSerializer().Serialize(registry_.Collect());
  }

 private:
  prometheus::Registry registry_;
  std::unique_ptr<WorkerMetrics> metrics_;
  TinyEngine engine_;
  std::unique_ptr<EngineLoop> loop_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

std::vector<int32_t> Prompt(int seed, int length) {
  std::vector<int32_t> ids(length);
  uint32_t state = 77 + seed;
  for (int32_t& id : ids) {
    state = state * 1664525u + 1013904223u;
    id = static_cast<int32_t>((state >> 12) % 97);
  }
  return ids;
}

v1::SubmitRequest Greedy(const std::string& id, const std::vector<int32_t>& prompt, int64_t max_new) {
  v1::SubmitRequest request;
  request.set_request_id(id);
  request.set_tenant("t");
  for (int32_t token : prompt) request.add_prompt_token_ids(token);
  request.set_max_new_tokens(max_new);
  request.mutable_sampling()->set_temperature(0.0f);
  return request;
}

struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  v1::SubmitResponse last;
  int messages = 0;
};

StreamResult RunStream(v1::Worker::Stub& stub, const v1::SubmitRequest& request) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::SubmitResponse>> reader = stub.Submit(&context, request);
  StreamResult result;
  v1::SubmitResponse response;
  while (reader->Read(&response)) {
    result.tokens.insert(result.tokens.end(), response.token_ids().begin(), response.token_ids().end());
    result.last = response;
    ++result.messages;
  }
  result.status = reader->Finish();
  return result;
}

std::vector<int32_t> Alone(TinyEngine& engine, const std::vector<int32_t>& prompt, int64_t max_new) {
  OfflineGenerator generator(engine.model.get(), engine.storage.get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = prompt;
  request.max_new_tokens = max_new;
  request.sampling.temperature = 0.0f;
  return generator.Generate(request, nullptr)->output_ids;
}

void ExpectConcurrentStreamsMatchAlone(WorkerServer& server, int count, bool expect_preemption) {
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < count; ++i) expected.push_back(Alone(server.engine(), Prompt(i, 5 + i % 6), 12));
  std::vector<StreamResult> results(count);
  std::vector<std::thread> clients;
  for (int i = 0; i < count; ++i) {
    clients.emplace_back([&, i] {
      auto stub = server.Stub();
      results[i] = RunStream(*stub, Greedy(absl::StrCat("s", i), Prompt(i, 5 + i % 6), 12));
    });
  }
  for (std::thread& client : clients) client.join();
  int64_t preemptions = 0;
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    EXPECT_EQ(results[i].tokens, expected[i]) << "stream " << i;
    EXPECT_EQ(results[i].last.finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(results[i].last.usage().num_generated_tokens(), 12);
    EXPECT_GT(results[i].last.usage().peak_kv_bytes(), 0);
    preemptions += results[i].last.usage().num_preemptions();
  }
  if (expect_preemption) {
    EXPECT_GT(preemptions, 0);
  }
  v1::LoadResponse load;
  grpc::ClientContext context;
  ASSERT_TRUE(server.Stub()->Load(&context, v1::LoadRequest(), &load).ok());
  EXPECT_EQ(load.num_running_sequences(), 0);
  EXPECT_EQ(load.num_kv_blocks_used(), 0);
}

TEST(WorkerServiceTest, ConcurrentStreamsGiveTheTokensOfEachAlone) {
  WorkerServer server;
  ExpectConcurrentStreamsMatchAlone(server, 16, false);
  const std::string metrics = server.ScrapeMetrics();
  EXPECT_NE(metrics.find("gqa_worker_requests_total{outcome=\"length\"} 16"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("gqa_worker_time_to_first_token_seconds_count 16"), std::string::npos);
  EXPECT_NE(metrics.find("gqa_worker_inter_token_latency_seconds_count 176"), std::string::npos);
  EXPECT_NE(metrics.find("gqa_worker_kv_blocks_used 0"), std::string::npos);
  EXPECT_NE(metrics.find("gqa_worker_step_seconds_count"), std::string::npos);
}

TEST(WorkerServiceTest, TinyPoolPreemptsAndStillGivesIdenticalTokens) {
  WorkerServer server(/*kv_blocks=*/10);
  ExpectConcurrentStreamsMatchAlone(server, 8, true);
}

TEST(WorkerServiceTest, CancelEndsTheStreamAndFreesItsBlocks) {
  WorkerServer server;
  auto stub = server.Stub();
  // The tiny model can finish 240 tokens before the Cancel arrives on a busy
  // machine; then Cancel is NOT_FOUND and the stream ended LENGTH. Try a few
  // sequences until one is cancelled while it runs.
  bool cancelled_one = false;
  for (int attempt = 0; attempt < 10 && !cancelled_one; ++attempt) {
    const std::string id = absl::StrCat("long-", attempt);
    grpc::ClientContext context;
    auto reader = stub->Submit(&context, Greedy(id, Prompt(1, 8), 240));
    v1::SubmitResponse response;
    ASSERT_TRUE(reader->Read(&response));  // running
    v1::CancelRequest cancel;
    cancel.set_request_id(id);
    v1::CancelResponse cancelled;
    grpc::ClientContext cancel_context;
    const grpc::Status status = stub->Cancel(&cancel_context, cancel, &cancelled);
    v1::SubmitResponse last = response;
    while (reader->Read(&response)) last = response;
    EXPECT_TRUE(reader->Finish().ok());
    if (!status.ok()) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);  // it had finished
      continue;
    }
    cancelled_one = true;
    EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_CANCELLED);
    EXPECT_LT(last.usage().num_generated_tokens(), 240);
    grpc::ClientContext again;
    EXPECT_EQ(stub->Cancel(&again, cancel, &cancelled).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_TRUE(cancelled_one) << "every sequence finished before its Cancel arrived";
  v1::LoadResponse load;
  grpc::ClientContext load_context;
  ASSERT_TRUE(stub->Load(&load_context, v1::LoadRequest(), &load).ok());
  EXPECT_EQ(load.num_kv_blocks_used(), 0);
}

TEST(WorkerServiceTest, BadInputIsRefusedWithTheFieldAndTheWorkerKeepsServing) {
  WorkerServer server;
  auto stub = server.Stub();
  auto expect_error = [&](v1::SubmitRequest request, grpc::StatusCode code, const std::string& text) {
    StreamResult result = RunStream(*stub, request);
    EXPECT_EQ(result.status.error_code(), code) << result.status.error_message();
    EXPECT_NE(result.status.error_message().find(text), std::string::npos)
        << result.status.error_message();
  };
  expect_error(Greedy("a", {}, 4), grpc::StatusCode::INVALID_ARGUMENT, "prompt_token_ids is empty");
  expect_error(Greedy("b", {1, 500}, 4), grpc::StatusCode::INVALID_ARGUMENT, "prompt_token_ids[1]");
  expect_error(Greedy("c", {1, 2}, 300), grpc::StatusCode::INVALID_ARGUMENT, "trained context");
  v1::SubmitRequest sampled = Greedy("d", {1, 2}, 4);
  sampled.mutable_sampling()->set_temperature(0.7f);
  expect_error(sampled, grpc::StatusCode::INVALID_ARGUMENT, "sampling.seed is required");
  v1::SubmitRequest fp8 = Greedy("e", {1, 2}, 4);
  fp8.set_kv_dtype(v1::KV_DTYPE_FP8_E4M3);
  expect_error(fp8, grpc::StatusCode::INVALID_ARGUMENT, "not served by this worker");
  v1::SubmitRequest policy = Greedy("f", {1, 2}, 4);
  policy.mutable_kv_policy()->mutable_h2o()->set_heavy_tokens(0);
  expect_error(policy, grpc::StatusCode::INVALID_ARGUMENT, "kv_policy.h2o");
  // Still serving, with a bounded policy too, past the trained context.
  v1::SubmitRequest streaming = Greedy("g", Prompt(3, 6), 300);
  streaming.mutable_kv_policy()->mutable_streaming()->set_window_tokens(16);
  StreamResult ok = RunStream(*stub, streaming);
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens.size(), 300u);
  EXPECT_GT(ok.last.usage().num_evicted_tokens(), 0);
}

TEST(FakeWorkerTest, EmitsDeterministicTokensAtTheConfiguredDelays) {
  FakeEngineOptions options;
  options.ttft = absl::Milliseconds(80);
  options.itl = absl::Milliseconds(15);
  options.config = TinyConfig(4, 2);
  FakeEngine fake(Env::Default(), options);
  WorkerInfo info;
  info.model_name = "fake";
  WorkerService service(&fake, info);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::Worker::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  const v1::SubmitRequest request = Greedy("f1", {5, 6, 7}, 10);
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  auto reader = stub->Submit(&context, request);
  v1::SubmitResponse response;
  std::vector<int32_t> tokens;
  std::vector<absl::Duration> arrivals;
  v1::SubmitResponse last;
  while (reader->Read(&response)) {
    for (int32_t id : response.token_ids()) {
      tokens.push_back(id);
      arrivals.push_back(absl::Now() - start);
    }
    last = response;
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(tokens.size(), 10u);
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_GE(arrivals[0], absl::Milliseconds(80));
  EXPECT_LT(arrivals[0], absl::Milliseconds(80 + 2000));  // generous: sanitizer builds, busy CI
  // Ten tokens: ttft + 9 x itl, give or take scheduling noise.
  EXPECT_GE(arrivals[9], absl::Milliseconds(80 + 9 * 15));
  EngineRequest engine_request;
  engine_request.prompt_ids = {5, 6, 7};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(tokens[i], FakeEngine::FakeToken(engine_request, i, 97)) << i;
  }
  // The same API for bad input and cancellation.
  StreamResult bad = RunStream(*stub, Greedy("f2", {}, 3));
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext cancel_context;
  v1::CancelRequest cancel;
  cancel.set_request_id("nobody");
  v1::CancelResponse cancelled;
  EXPECT_EQ(stub->Cancel(&cancel_context, cancel, &cancelled).error_code(),
            grpc::StatusCode::NOT_FOUND);
  server->Shutdown();
}

TEST(WorkerServiceTest, WatchCacheEventsStreamsStoredBlocksAndClearCacheRemovesThem) {
  WorkerServer server;
  auto stub = server.Stub();
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto watch = stub->WatchCacheEvents(&watch_context, v1::WatchCacheEventsRequest());
  v1::CacheEvent event;
  ASSERT_TRUE(watch->Read(&event));
  ASSERT_TRUE(event.has_snapshot());
  EXPECT_EQ(event.snapshot().block_ids_size(), 0);
  EXPECT_FALSE(event.snapshot().more_parts());

  const std::vector<int32_t> prompt = Prompt(5, 12);  // three full blocks of 4
  ASSERT_TRUE(RunStream(*stub, Greedy("cached", prompt, 2)).status.ok());
  // The prompt's blocks, as the router computes their ids.
  const std::vector<BlockId> expected =
      ChainBlockIds(RootBlockId(server.engine().model->fingerprint(), "t"), prompt, 4);
  std::set<std::string> seen;
  uint64_t last_sequence = event.sequence_number();
  while (seen.size() < expected.size() && watch->Read(&event)) {
    ASSERT_TRUE(event.has_stored()) << event.DebugString();
    EXPECT_EQ(event.sequence_number(), last_sequence + 1);
    last_sequence = event.sequence_number();
    for (const std::string& id : event.stored().block_ids()) seen.insert(id);
  }
  for (const BlockId& id : expected) {
    EXPECT_TRUE(seen.contains(std::string(id.begin(), id.end())));
  }
  // ClearCache: another tenant's name clears nothing; "t" clears them all,
  // and the removals reach the watcher.
  for (const auto& [tenant, count] : std::vector<std::pair<std::string, int64_t>>{
           {"other", 0}, {"t", 3}}) {
    v1::ClearCacheRequest clear;
    clear.set_tenant(tenant);
    v1::ClearCacheResponse cleared;
    grpc::ClientContext clear_context;
    ASSERT_TRUE(stub->ClearCache(&clear_context, clear, &cleared).ok());
    EXPECT_EQ(cleared.num_blocks_cleared(), count) << tenant;
  }
  std::set<std::string> removed;
  while (removed.size() < expected.size() && watch->Read(&event)) {
    ASSERT_TRUE(event.has_removed()) << event.DebugString();
    EXPECT_EQ(event.sequence_number(), last_sequence + 1);
    last_sequence = event.sequence_number();
    for (const std::string& id : event.removed().block_ids()) removed.insert(id);
  }
  EXPECT_EQ(removed, seen);
  watch_context.TryCancel();
  v1::CacheEvent rest;
  while (watch->Read(&rest)) {
  }
  watch->Finish().IgnoreError();
}

TEST(WorkerServiceTest, InfoDescribesTheModelAndCache) {
  WorkerServer server;
  v1::InfoResponse info;
  grpc::ClientContext context;
  ASSERT_TRUE(server.Stub()->Info(&context, v1::InfoRequest(), &info).ok());
  EXPECT_EQ(info.model_name(), "tiny");
  EXPECT_EQ(info.shape().num_kv_heads(), 2);
  EXPECT_EQ(info.kv_dtype(), v1::KV_DTYPE_F32);
  EXPECT_EQ(info.block_size(), 4);
  EXPECT_EQ(info.kv_policy_kinds_size(), 4);
}

}  // namespace
}  // namespace gqa
