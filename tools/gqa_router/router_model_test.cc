// The router in front of two real workers on the default model: a worker
// killed mid-stream (kill -9) changes no token of greedy or seeded sampled
// output (the resume prefills prompt + output and samples index i with the
// stream keyed by (seed, i)); the cache-aware policies send prompts that
// share a long prefix to the worker that caches it, round-robin does not.
// Skips without the default model ($GQA_DEFAULT_MODEL).
#include <signal.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "gtest/gtest.h"
#include "tools/gqa/child_process.h"

namespace gqa {
namespace {

struct Output {
  grpc::Status status;
  std::vector<int32_t> ids;
  int64_t cached = 0;
};

class RouterModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* model = std::getenv("GQA_DEFAULT_MODEL");
    model_ = model != nullptr ? model : "";
    if (model_.empty() || !Env::Default()->FileExists(model_)) {
      GTEST_SKIP() << "no default model (set GQA_DEFAULT_MODEL; scripts/setup.sh fetches it)";
    }
  }

  void StartCluster(const std::string& policy) {
    std::vector<std::string> addresses;
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::unique_ptr<ChildProcess>> worker = ChildProcess::Start(
          {GQA_WORKER_BINARY, "--model", model_, "--port", "0", "--listen", "127.0.0.1",
           "--threads", "1", "--kv-bytes", "96MiB"});
      ASSERT_TRUE(worker.ok()) << worker.status();
      workers_.push_back(*std::move(worker));
    }
    for (auto& worker : workers_) {
      absl::StatusOr<std::string> address = worker->WaitForListenAddress(absl::Seconds(60));
      ASSERT_TRUE(address.ok()) << address.status();
      addresses.push_back(*address);
    }
    absl::StatusOr<std::unique_ptr<ChildProcess>> router = ChildProcess::Start(
        {GQA_ROUTER_BINARY, "--model", model_, "--port", "0", "--listen", "127.0.0.1",
         "--workers", absl::StrJoin(addresses, ","), "--policy", policy, "--poll-interval-ms",
         "100", "--progress-timeout-ms", "10000"});
    ASSERT_TRUE(router.ok()) << router.status();
    absl::StatusOr<std::string> address = (*router)->WaitForListenAddress(absl::Seconds(60));
    ASSERT_TRUE(address.ok()) << address.status();
    router_ = *std::move(router);
    stub_ = v1::Inference::NewStub(
        grpc::CreateChannel(*address, grpc::InsecureChannelCredentials()));
    // Both workers polled and accepted: two quick calls succeed.
    for (int i = 0, ok = 0; i < 100 && ok < 2; ++i) {
      ok += Generate(Chat("hi", 0.0f, 0, 1)).status.ok();
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  static v1::GenerateRequest Chat(const std::string& text, float temperature, uint64_t seed,
                                  int64_t max_tokens) {
    v1::GenerateRequest request;
    v1::ChatMessage* message = request.mutable_chat()->add_messages();
    message->set_role(v1::ChatMessage::ROLE_USER);
    message->set_content(text);
    request.set_max_tokens(max_tokens);
    request.set_ignore_eos(true);
    request.mutable_sampling()->set_temperature(temperature);
    request.mutable_sampling()->set_seed(seed);
    return request;
  }

  Output Generate(const v1::GenerateRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(240));
    auto reader = stub_->Generate(&context, request);
    Output output;
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
      output.ids.insert(output.ids.end(), response.token_ids().begin(), response.token_ids().end());
      if (response.has_usage()) output.cached = response.usage().num_cached_tokens();
    }
    output.status = reader->Finish();
    return output;
  }

  std::vector<Output> Streams(const std::function<void()>& disturb) {
    std::vector<Output> outputs(8);
    std::vector<std::thread> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back([this, i, &outputs] {
        const bool sampled = i % 2 == 1;
        outputs[i] = Generate(Chat(absl::StrCat("Tell me fact number ", i, " about the sea."),
                                   sampled ? 0.8f : 0.0f, 100 + i, 32));
      });
    }
    disturb();
    for (std::thread& client : clients) client.join();
    return outputs;
  }

  std::string model_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::unique_ptr<ChildProcess> router_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

TEST_F(RouterModelTest, KillNineMidStreamChangesNoGreedyOrSeededToken) {
  StartCluster("round-robin");
  const std::vector<Output> undisturbed = Streams([] {});
  const std::vector<Output> disturbed = Streams([this] {
    absl::SleepFor(absl::Seconds(1));
    kill(workers_[0]->pid(), SIGKILL);
  });
  for (size_t i = 0; i < disturbed.size(); ++i) {
    ASSERT_TRUE(undisturbed[i].status.ok()) << undisturbed[i].status.error_message();
    ASSERT_TRUE(disturbed[i].status.ok()) << disturbed[i].status.error_message();
    EXPECT_EQ(undisturbed[i].ids.size(), 32u);
    EXPECT_EQ(disturbed[i].ids, undisturbed[i].ids) << "stream " << i;
  }
}

std::string SharedPrefixPrompt(int user) {
  std::string system;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&system, "Rule ", i, ": answer politely. ");
  return absl::StrCat(system, "Question ", user, ": what is ", user, " plus ", user, "?");
}

// Sends five prompts sharing a ~400-token prefix, one after another; returns
// how many prompt tokens each found cached.
std::vector<int64_t> SharedPrefixRun(RouterModelTest* test,
                                     const std::function<Output(const v1::GenerateRequest&)>& call) {
  std::vector<int64_t> cached;
  for (int user = 0; user < 5; ++user) {
    v1::GenerateRequest request;
    request.set_text(SharedPrefixPrompt(user));
    request.set_max_tokens(2);
    request.mutable_sampling()->set_temperature(0.0f);
    Output output = call(request);
    EXPECT_TRUE(output.status.ok()) << output.status.error_message();
    cached.push_back(output.cached);
    absl::SleepFor(absl::Milliseconds(300));  // the cache events reach the router
  }
  return cached;
}

TEST_F(RouterModelTest, KvAwareFollowsTheCachedPrefix) {
  StartCluster("kv-aware");
  const std::vector<int64_t> cached =
      SharedPrefixRun(this, [this](const v1::GenerateRequest& r) { return Generate(r); });
  for (size_t i = 1; i < cached.size(); ++i) EXPECT_GE(cached[i], 256) << "request " << i;
}

TEST_F(RouterModelTest, PrefixAffinityKeepsASharedStartOnOneWorker) {
  StartCluster("prefix-affinity");
  const std::vector<int64_t> cached =
      SharedPrefixRun(this, [this](const v1::GenerateRequest& r) { return Generate(r); });
  for (size_t i = 1; i < cached.size(); ++i) EXPECT_GE(cached[i], 256) << "request " << i;
}

TEST_F(RouterModelTest, RoundRobinIgnoresTheCache) {
  StartCluster("round-robin");
  const std::vector<int64_t> cached =
      SharedPrefixRun(this, [this](const v1::GenerateRequest& r) { return Generate(r); });
  // Alternating workers: the second request lands where the prefix is not.
  EXPECT_EQ(cached[0], 0);
  int misses = 0;
  for (size_t i = 1; i < cached.size(); ++i) misses += cached[i] == 0;
  EXPECT_GE(misses, 1);
}

}  // namespace
}  // namespace gqa
