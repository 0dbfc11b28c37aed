// A tp=3 group whose ranks live in three network namespaces joined by veth
// pairs to a bridge (its own namespace), so nothing can pass over loopback
// or a shared file: the rendezvous runs over TCP to rank 0's address. The
// ranks are started one by one with --rank/--tp-addr, as on three hosts.
// Greedy tokens must equal a tp=1 worker's. Needs root and iproute2
// (skipped otherwise) and the default model. This test process joins rank
// 0's namespace before any gRPC use, to be the client.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "gtest/gtest.h"
#include "tools/gqa/run_gqa_for_test.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

bool Sh(const std::string& command) { return std::system((command + " 2>&1").c_str()) == 0; }

class TpNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::getenv("GQA_DEFAULT_MODEL") != nullptr ? std::getenv("GQA_DEFAULT_MODEL") : "";
    if (model_.empty() || !Env::Default()->FileExists(model_)) {
      GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
    }
    if (geteuid() != 0 || !Sh("ip netns list > /dev/null")) GTEST_SKIP() << "needs root and ip";
    tag_ = absl::StrCat("gqatp", getpid() % 100000);
    bridge_ns_ = tag_ + "br";
    ASSERT_TRUE(Sh("ip netns add " + bridge_ns_));
    ASSERT_TRUE(Sh(absl::StrCat("ip -n ", bridge_ns_, " link add br0 type bridge && ip -n ",
                                bridge_ns_, " link set br0 up")));
    for (int i = 0; i < 3; ++i) {
      const std::string ns = Ns(i), v = absl::StrCat("v", i, tag_), p = absl::StrCat("p", i, tag_);
      ASSERT_TRUE(Sh("ip netns add " + ns));
      ASSERT_TRUE(Sh(absl::StrCat("ip link add ", v, " type veth peer name ", p)));
      ASSERT_TRUE(Sh(absl::StrCat("ip link set ", v, " netns ", ns, " && ip link set ", p,
                                  " netns ", bridge_ns_)));
      ASSERT_TRUE(Sh(absl::StrCat("ip -n ", bridge_ns_, " link set ", p, " master br0 up")));
      ASSERT_TRUE(Sh(absl::StrCat("ip -n ", ns, " addr add ", Ip(i), "/24 dev ", v, " && ip -n ",
                                  ns, " link set ", v, " up && ip -n ", ns, " link set lo up")));
    }
  }

  void TearDown() override {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    for (int i = 0; i < 3; ++i) Sh("ip netns del " + Ns(i) + " 2>/dev/null");
    if (!bridge_ns_.empty()) Sh("ip netns del " + bridge_ns_ + " 2>/dev/null");
  }

  std::string Ns(int i) const { return absl::StrCat(tag_, "n", i); }
  static std::string Ip(int i) { return absl::StrCat("10.231.7.", i + 1); }

  // gqa-worker in namespace `i`, stderr to a file; returns its pid.
  pid_t Spawn(int i, std::vector<std::string> worker_args, const std::string& err_path) {
    std::vector<std::string> args = {"/usr/sbin/ip", "netns", "exec", Ns(i), GQA_WORKER_BINARY,
                                     "--model", model_, "--threads", "1"};
    args.insert(args.end(), worker_args.begin(), worker_args.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    pids_.push_back(pid);
    return pid;
  }

  int Wait(pid_t pid) {
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    pids_.erase(std::find(pids_.begin(), pids_.end(), pid));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string model_, tag_, bridge_ns_;
  std::vector<pid_t> pids_;
};

std::vector<int32_t> Generate(const std::string& address, const std::string& err_path) {
  grpc::ChannelArguments retry_fast;
  retry_fast.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  retry_fast.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), retry_fast);
  EXPECT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(90))))
      << SlurpForTesting(err_path);
  auto stub = v1::Worker::NewStub(channel);
  v1::SubmitRequest request;
  request.set_request_id("r");
  request.set_tenant("t");
  for (int32_t token : {504, 3458, 282, 4649, 314}) request.add_prompt_token_ids(token);
  request.set_max_new_tokens(16);
  request.set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(0.0f);
  grpc::ClientContext context;
  auto reader = stub->Submit(&context, request);
  v1::SubmitResponse response;
  std::vector<int32_t> tokens;
  while (reader->Read(&response)) {
    tokens.insert(tokens.end(), response.token_ids().begin(), response.token_ids().end());
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return tokens;
}

TEST_F(TpNetnsTest, Tp3AcrossNamespacesMatchesTp1) {
  // Be a client inside rank 0's namespace (before gRPC starts any thread).
  const int fd = open(absl::StrCat("/var/run/netns/", Ns(0)).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(setns(fd, CLONE_NEWNET), 0);
  close(fd);
  const std::string dir = testing::TempDir() + "/" + tag_;
  ASSERT_TRUE(Env::Default()->CreateDirs(dir).ok());

  const pid_t tp1 = Spawn(0, {"--port", "50061", "--listen", Ip(0)}, dir + "/tp1.err");
  const std::vector<int32_t> expected = Generate(Ip(0) + ":50061", dir + "/tp1.err");
  kill(tp1, SIGTERM);
  EXPECT_EQ(Wait(tp1), 0);
  ASSERT_EQ(expected.size(), 16u);

  // Followers first (they retry until rank 0's store listens), as on other hosts.
  const std::string store = Ip(0) + ":29470";
  std::vector<pid_t> followers;
  for (int rank : {1, 2}) {
    followers.push_back(Spawn(rank, {"--port", "0", "--tp", "3", "--rank", std::to_string(rank),
                                     "--tp-addr", store, "--tp-timeout-ms", "30000"},
                              absl::StrCat(dir, "/rank", rank, ".err")));
  }
  const pid_t leader = Spawn(0, {"--port", "50062", "--listen", Ip(0), "--tp", "3", "--rank", "0",
                                 "--tp-addr", store, "--tp-timeout-ms", "30000"},
                             dir + "/rank0.err");
  EXPECT_EQ(Generate(Ip(0) + ":50062", dir + "/rank0.err"), expected);
  // Each rank's Gloo pairs bound to its own namespace's address.
  for (int rank : {1, 2}) {
    EXPECT_THAT(SlurpForTesting(absl::StrCat(dir, "/rank", rank, ".err")),
                HasSubstr(absl::StrCat("rank=", rank, " size=3 listen=", Ip(rank))));
  }
  kill(leader, SIGTERM);  // drains, then ends the group: followers exit 0
  EXPECT_EQ(Wait(leader), 0);
  for (pid_t pid : followers) EXPECT_EQ(Wait(pid), 0);
}

}  // namespace
}  // namespace gqa
