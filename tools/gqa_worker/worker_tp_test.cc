// gqa-worker --tp as an operator runs it, real processes on loopback: the
// launcher starts its ranks, a tp=3 group of the default model streams the
// same greedy tokens as a tp=1 worker, killing a rank mid-stream ends the
// stream with UNAVAILABLE within the timeout and the launcher then exits 1,
// and no rank outlives its launcher. Invalid tp values are refused before any weight loads.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <regex>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "gtest/gtest.h"
#include "tools/gqa/run_gqa_for_test.h"
#include "worker/engine/convert/testing/random_llama.h"
#include "worker/service/testing/free_port.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// A process exists and is not a zombie.
bool Alive(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

bool GoneWithin(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Alive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

// A gqa-worker process with its stderr in a file.
struct Worker {
  pid_t pid = 0;
  int port = 0;
  std::string err_path;
  std::unique_ptr<v1::Worker::Stub> stub;

  // The pids the launcher logged for ranks 1.. (waits until `count` appear).
  std::vector<pid_t> RankPids(size_t count) const {
    const std::regex line("tp launcher started rank=(\\d+) pid=(\\d+)");
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::vector<pid_t> pids;
      const std::string err = SlurpForTesting(err_path);
      for (auto it = std::sregex_iterator(err.begin(), err.end(), line);
           it != std::sregex_iterator(); ++it) {
        pids.push_back(std::stoi((*it)[2]));
      }
      if (pids.size() >= count) return pids;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return {};
  }
};

Worker StartWorker(const std::string& model, std::vector<std::string> extra) {
  Worker w;
  w.port = FreeLoopbackPortForTesting();
  w.err_path = absl::StrCat(testing::TempDir(), "/tp-worker-", getpid(), "-", w.port, ".err");
  std::vector<std::string> args = {GQA_WORKER_BINARY, "--model", model, "--port",
                                   std::to_string(w.port), "--listen", "127.0.0.1",
                                   "--threads", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, w.err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  EXPECT_EQ(posix_spawn(&w.pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  grpc::ChannelArguments retry_fast;
  retry_fast.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  retry_fast.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", w.port),
                                           grpc::InsecureChannelCredentials(), retry_fast);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  bool connected = false;
  while (!connected && absl::Now() < deadline) {
    connected = channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    int status = 0;
    if (!connected && waitpid(w.pid, &status, WNOHANG) == w.pid) break;  // it exited
  }
  EXPECT_TRUE(connected) << "gqa-worker did not start listening: " << SlurpForTesting(w.err_path);
  w.stub = v1::Worker::NewStub(channel);
  return w;
}

int StopWorker(Worker& w) {
  kill(w.pid, SIGTERM);
  int status = 0;
  EXPECT_EQ(waitpid(w.pid, &status, 0), w.pid);
  return status;
}

v1::SubmitRequest Greedy(const std::string& id, int max_new_tokens) {
  v1::SubmitRequest request;
  request.set_request_id(id);
  request.set_tenant("t");
  for (int32_t token : {504, 3458, 282, 4649, 314}) request.add_prompt_token_ids(token);
  request.set_max_new_tokens(max_new_tokens);
  request.set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(0.0f);
  return request;
}

// h2o with a cache of 4 heavy + 4 recent tokens: it evicts from token 9 on.
v1::SubmitRequest GreedyH2o(const std::string& id, int max_new_tokens) {
  v1::SubmitRequest request = Greedy(id, max_new_tokens);
  request.mutable_kv_policy()->mutable_h2o()->set_heavy_tokens(4);
  request.mutable_kv_policy()->mutable_h2o()->set_recent_tokens(4);
  return request;
}

std::vector<int32_t> Generate(Worker& w, const v1::SubmitRequest& request) {
  grpc::ClientContext context;
  auto reader = w.stub->Submit(&context, request);
  v1::SubmitResponse response;
  std::vector<int32_t> tokens;
  while (reader->Read(&response)) {
    tokens.insert(tokens.end(), response.token_ids().begin(), response.token_ids().end());
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return tokens;
}

// Starts a long greedy stream, calls `disrupt` once its first tokens have
// come, and reads it to its end: its status, the time from the disruption to
// the end, and the tokens received.
struct Disrupted {
  grpc::Status status;
  absl::Duration took;
  int received = 0;
};
Disrupted DisruptAStream(Worker& w, const std::function<void()>& disrupt) {
  Disrupted out;
  grpc::ClientContext context;
  auto reader = w.stub->Submit(&context, Greedy("disrupted", 400));
  v1::SubmitResponse response;
  while (out.received < 4 && reader->Read(&response)) out.received += response.token_ids_size();
  EXPECT_GE(out.received, 4);
  const absl::Time start = absl::Now();
  disrupt();
  while (reader->Read(&response)) out.received += response.token_ids_size();
  out.status = reader->Finish();
  out.took = absl::Now() - start;
  return out;
}

// The exit status of `pid` (a child of this test), or -1 if it still runs
// after `timeout`.
int ExitStatusWithin(pid_t pid, absl::Duration timeout) {
  int status = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return status;
}

TEST(WorkerTpTest, DefaultModelTp3MatchesTp1AndAKilledRankEndsTheStream) {
  const char* model = std::getenv("GQA_DEFAULT_MODEL");
  if (model == nullptr || !Env::Default()->FileExists(model)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  }
  Worker tp1 = StartWorker(model, {});
  const std::vector<int32_t> expected = Generate(tp1, Greedy("a", 24));
  StopWorker(tp1);
  ASSERT_EQ(expected.size(), 24u);


  Worker tp3 = StartWorker(model, {"--tp", "3", "--tp-timeout-ms", "3000"});
  const std::vector<pid_t> ranks = tp3.RankPids(2);
  ASSERT_EQ(ranks.size(), 2u) << SlurpForTesting(tp3.err_path);
  EXPECT_TRUE(Alive(ranks[0]) && Alive(ranks[1]));
  EXPECT_EQ(Generate(tp3, Greedy("b", 24)), expected);
  // h2o in a group (its evictions from every rank's scores, summed on rank
  // 0) runs to the end; its tokens are compared with tp=1's on the F32 model
  // (engine_tp_forward_model_test), where the Q4_1 rounding does not move
  // the scores.
  EXPECT_EQ(Generate(tp3, GreedyH2o("b2", 24)).size(), 24u);

  // A long stream; rank 2 dies after its first tokens.
  const Disrupted killed =
      DisruptAStream(tp3, [&] { ASSERT_EQ(kill(ranks[1], SIGKILL), 0); });
  EXPECT_EQ(killed.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << killed.status.error_message();
  EXPECT_LT(killed.took, absl::Seconds(3 + 2)) << "the stream outlived the tp timeout";
  EXPECT_LT(killed.received, 400);
  // Rank 1 notices its peer's death and exits by itself; so does the
  // launcher, with status 1, once its streams have ended (its group cannot
  // step again: whoever runs it restarts it), and it leaves no rank.
  EXPECT_TRUE(GoneWithin(ranks[0], absl::Seconds(5)));
  const int exit_status = ExitStatusWithin(tp3.pid, absl::Seconds(35));
  ASSERT_NE(exit_status, -1) << "the launcher of a broken group kept running";
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << exit_status;
  EXPECT_THAT(SlurpForTesting(tp3.err_path), HasSubstr("the tensor-parallel group lost a rank"));
  EXPECT_FALSE(Alive(ranks[0]) || Alive(ranks[1]));
}

// A rank that stops answering (SIGSTOP: alive, its sockets open) is found by
// the collectives' timeout: the stream ends with UNAVAILABLE, not the
// communicator's DEADLINE_EXCEEDED (which a client would read as its own
// deadline), and the launcher exits 1 and takes the stopped rank with it.
TEST(WorkerTpTest, AStoppedRankEndsTheStreamWithUnavailableAfterTheTimeout) {
  const char* model = std::getenv("GQA_DEFAULT_MODEL");
  if (model == nullptr || !Env::Default()->FileExists(model)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  }
  Worker tp3 = StartWorker(model, {"--tp", "3", "--tp-timeout-ms", "2000"});
  const std::vector<pid_t> ranks = tp3.RankPids(2);
  ASSERT_EQ(ranks.size(), 2u) << SlurpForTesting(tp3.err_path);
  const Disrupted stopped =
      DisruptAStream(tp3, [&] { ASSERT_EQ(kill(ranks[0], SIGSTOP), 0); });
  EXPECT_EQ(stopped.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << stopped.status.error_message();
  EXPECT_LT(stopped.took, absl::Seconds(2 + 3)) << "the stream outlived the tp timeout";
  const int exit_status = ExitStatusWithin(tp3.pid, absl::Seconds(35));
  ASSERT_NE(exit_status, -1) << "the launcher of a broken group kept running";
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << exit_status;
  EXPECT_TRUE(GoneWithin(ranks[0], absl::Seconds(10))) << "the stopped rank was left behind";
  EXPECT_TRUE(GoneWithin(ranks[1], absl::Seconds(10)));
}

TEST(WorkerTpTest, RanksDieWithTheirLauncher) {
  const char* model = std::getenv("GQA_DEFAULT_MODEL");
  if (model == nullptr || !Env::Default()->FileExists(model)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  }
  Worker group = StartWorker(model, {"--tp", "3"});
  const std::vector<pid_t> ranks = group.RankPids(2);
  ASSERT_EQ(ranks.size(), 2u) << SlurpForTesting(group.err_path);
  v1::InfoResponse info;
  grpc::ClientContext context;
  ASSERT_TRUE(group.stub->Info(&context, v1::InfoRequest(), &info).ok());
  EXPECT_EQ(info.tp_size(), 3);
  ASSERT_TRUE(Alive(ranks[0]) && Alive(ranks[1]));
  kill(group.pid, SIGKILL);  // no cleanup runs: PDEATHSIG must end the ranks
  int status = 0;
  ASSERT_EQ(waitpid(group.pid, &status, 0), group.pid);
  EXPECT_TRUE(GoneWithin(ranks[0], absl::Seconds(5)));
  EXPECT_TRUE(GoneWithin(ranks[1], absl::Seconds(5)));
}

TEST(WorkerTpTest, InvalidTpIsRefusedBeforeLoading) {
  const std::string model = absl::StrCat(testing::TempDir(), "/tp-bad-", getpid(), ".gguf");
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(model, RandomLlamaGguf({})).ok());
  GqaRun three = RunGqaForTesting(GQA_WORKER_BINARY, {"--model", model, "--port", "0", "--tp", "3"});
  EXPECT_EQ(three.exit_code, 2);
  EXPECT_THAT(three.err, HasSubstr("query heads"));
  GqaRun vocab = RunGqaForTesting(GQA_WORKER_BINARY, {"--model", model, "--port", "0", "--tp", "2"});
  EXPECT_EQ(vocab.exit_code, 2);
  EXPECT_THAT(vocab.err, HasSubstr("vocabulary"));
  GqaRun rank = RunGqaForTesting(GQA_WORKER_BINARY,
                                 {"--model", model, "--port", "0", "--tp", "2", "--rank", "1"});
  EXPECT_EQ(rank.exit_code, 2);
  EXPECT_THAT(rank.err, HasSubstr("--tp-addr"));
  GqaRun big = RunGqaForTesting(GQA_WORKER_BINARY, {"--model", model, "--port", "0", "--tp", "2",
                                                    "--rank", "2", "--tp-addr", "127.0.0.1:1"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_THAT(big.err, HasSubstr("--rank 2"));
}

}  // namespace
}  // namespace gqa
