// The gqa-kvstore binary as an operator runs it: --port 0 prints the port it
// bound; it serves gqa.v1.KvStore, the health service (on the main port and a
// plaintext --health-port) and /metrics; blocks on a --disk-dir survive a
// kill -9 and come back after a restart on the same directory; SIGTERM exits
// 0; bad flags exit 2 and an unusable disk directory exits 1, with the reason.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvstore/service/kvstore_client.h"
#include "kvstore/service/testing/test_blocks.h"
#include "tools/gqa/run_gqa_for_test.h"
#include "worker/service/testing/free_port.h"

namespace gqa::kvstore {
namespace {

using ::testing::HasSubstr;

// One running gqa-kvstore, started with --port 0 and --listen 127.0.0.1; the
// port comes from the line it prints. Killed (SIGKILL) if still running when
// destroyed.
class KvStoreProcess {
 public:
  static std::unique_ptr<KvStoreProcess> Start(std::vector<std::string> flags) {
    auto process = std::unique_ptr<KvStoreProcess>(new KvStoreProcess());
    std::vector<std::string> args = {GQA_KVSTORE_BINARY, "--port", "0", "--listen", "127.0.0.1"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe(out) != 0) return nullptr;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const int spawned =
        posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (spawned != 0) {
      close(out[0]);
      return nullptr;
    }
    process->line_ = ReadLine(out[0], absl::Seconds(30));
    close(out[0]);
    // "gqa-kvstore listening on 127.0.0.1:PORT (...)"; port_ stays 0 when
    // the line is not there (the test prints line()).
    if (const size_t at = process->line_.find("127.0.0.1:"); at != std::string::npos) {
      std::string port = process->line_.substr(at + 10);
      port = port.substr(0, port.find(' '));
      if (!absl::SimpleAtoi(port, &process->port_)) process->port_ = 0;
    }
    return process;
  }

  ~KvStoreProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  int port() const { return port_; }
  const std::string& line() const { return line_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Sends `signal` and returns the exit status (waitpid's).
  int Stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return status;
  }

 private:
  KvStoreProcess() = default;

  static std::string ReadLine(int fd, absl::Duration timeout) {
    std::string line;
    const absl::Time give_up = absl::Now() + timeout;
    while (absl::Now() < give_up) {
      pollfd poll_fd{fd, POLLIN, 0};
      if (poll(&poll_fd, 1, 100) <= 0) continue;
      char c;
      if (read(fd, &c, 1) != 1) break;
      if (c == '\n') break;
      line.push_back(c);
    }
    return line;
  }

  pid_t pid_ = 0;
  int port_ = 0;
  std::string line_;
};

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/kvstore-bin-", getpid(), "-", name);
}

// grpc.health.v1 ServingStatus values.
constexpr int kServing = 1;

// grpc.health.v1.Health/Check through a generic stub (Debian ships no
// health.proto): HealthCheckRequest is {1: service}, HealthCheckResponse
// {1: status}. The status, or -1 when the call fails.
int HealthStatus(const std::string& address, const std::string& service) {
  grpc::GenericStub stub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::string request = {0x0A, static_cast<char>(service.size())};
  request += service;
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1), response_buffer;
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request_buffer,
                                    &queue);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return -1;
  std::string response;
  for (const grpc::Slice& part : slices) {
    response.append(reinterpret_cast<const char*>(part.begin()), part.size());
  }
  if (response.empty()) return 0;  // UNKNOWN, the default, is not serialized
  return response.size() == 2 && response[0] == 0x08 ? response[1] : -1;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: x\r\n\r\n");
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
    }
  }
  close(fd);
  return response;
}

std::vector<Block> SomeBlocks() {
  std::vector<Block> blocks;
  for (int i = 0; i < 6; ++i) {
    blocks.push_back(TestBlock(TestPrefixKey("acme", i), BlockLayout{4, 16, 64}, i));
  }
  for (int i = 0; i < 3; ++i) {
    blocks.push_back(TestBlock(TestSwapKey("acme", "w/7", i), BlockLayout{4, 16, 64}, 100 + i));
  }
  blocks.push_back(
      TestBlock(TestPrefixKey("acme", 50, DType::kFp8E4M3), BlockLayout{4, 16, 64}, 50));
  return blocks;
}

std::vector<BlockKey> KeysOf(const std::vector<Block>& blocks) {
  std::vector<BlockKey> keys;
  for (const Block& block : blocks) keys.push_back(block.key);
  return keys;
}

TEST(KvStoreBinaryTest, ServesBlocksHealthAndMetricsAndStopsOnSigterm) {
  const int health_port = FreeLoopbackPortForTesting();
  const int metrics_port = FreeLoopbackPortForTesting();
  auto process = KvStoreProcess::Start({"--memory-bytes", "64MiB", "--health-port",
                                        std::to_string(health_port), "--metrics-port",
                                        std::to_string(metrics_port)});
  ASSERT_NE(process, nullptr);
  ASSERT_GT(process->port(), 0) << "no port in the first line: " << process->line();
  EXPECT_THAT(process->line(), HasSubstr("memory 64.00 MiB; auth: none"));
  for (const std::string& address :
       {process->address(), absl::StrCat("127.0.0.1:", health_port)}) {
    EXPECT_EQ(HealthStatus(address, ""), kServing) << address;
    EXPECT_EQ(HealthStatus(address, "gqa.v1.KvStore"), kServing) << address;
  }
  KvStoreClient client(NewKvStoreChannel(process->address(), grpc::InsecureChannelCredentials()));
  const std::vector<Block> blocks = SomeBlocks();
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client.PutBlocks(blocks, 600000, &outcomes).ok());
  std::vector<Block> got;
  ASSERT_TRUE(client.GetBlocks(KeysOf(blocks), &got).ok());
  ASSERT_EQ(got.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) EXPECT_EQ(got[i].payload, blocks[i].payload);

  const std::string metrics = HttpGet(metrics_port, "/metrics");
  EXPECT_THAT(metrics, HasSubstr("gqa_kvstore_rpcs_total{code=\"OK\",rpc=\"put\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("gqa_kvstore_stored_bytes{tier=\"memory\"}"));
  EXPECT_THAT(metrics, HasSubstr("gqa_kvstore_hits_total{tier=\"memory\"} 10"));

  const int status = process->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(KvStoreBinaryTest, BlocksOnTheDiskDirSurviveKillNineAndARestart) {
  const std::string dir = TempPath("disk");
  // --memory-bytes 0: every Put lands on disk (a memory tier keeps its
  // blocks in RAM until it evicts them down to disk).
  const std::vector<std::string> flags = {"--memory-bytes", "0", "--disk-dir", dir,
                                          "--disk-bytes", "256MiB"};
  const std::vector<Block> blocks = SomeBlocks();
  {
    auto process = KvStoreProcess::Start(flags);
    ASSERT_NE(process, nullptr);
    ASSERT_GT(process->port(), 0) << process->line();
    KvStoreClient client(NewKvStoreChannel(process->address(), grpc::InsecureChannelCredentials()));
    std::vector<PutOutcome> outcomes;
    ASSERT_TRUE(client.PutBlocks(blocks, 600000, &outcomes).ok());
    ASSERT_EQ(outcomes.size(), blocks.size());
    const int status = process->Stop(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  auto process = KvStoreProcess::Start(flags);
  ASSERT_NE(process, nullptr);
  ASSERT_GT(process->port(), 0) << process->line();
  KvStoreClient client(NewKvStoreChannel(process->address(), grpc::InsecureChannelCredentials()));
  std::vector<Block> got;
  const absl::Status read = client.GetBlocks(KeysOf(blocks), &got);
  ASSERT_TRUE(read.ok()) << read;
  ASSERT_EQ(got.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(got[i].key, blocks[i].key);
    EXPECT_EQ(got[i].payload, blocks[i].payload) << i;
  }
  const std::vector<std::string> chain = {TestLogicalId(0), TestLogicalId(1), TestLogicalId(2),
                                          TestLogicalId(3), TestLogicalId(4), TestLogicalId(5),
                                          TestLogicalId(6)};
  EXPECT_EQ(*client.Lookup("acme", KvShard{}, DType::kF16, chain), 6);
  const absl::StatusOr<StoreStats> stats = client.Stats();
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->tiers.size(), 1u);
  EXPECT_EQ(stats->tiers[0].tier, TierKind::kDisk);
  EXPECT_EQ(stats->tiers[0].num_prefix_blocks, 7);
  EXPECT_EQ(stats->tiers[0].num_swap_blocks, 3);
  EXPECT_EQ(process->Stop(SIGTERM), 0);
}

TEST(KvStoreBinaryTest, ServiceTokensFromAFile) {
  const std::string tokens = TempPath("tokens");
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(tokens, "# workers\nw-token-1\n").ok());
  auto process = KvStoreProcess::Start({"--tokens-file", tokens});
  ASSERT_NE(process, nullptr);
  ASSERT_GT(process->port(), 0) << process->line();
  EXPECT_THAT(process->line(), HasSubstr("auth: tokens"));
  auto channel = NewKvStoreChannel(process->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(KvStoreClient(channel).Stats().status().code(), absl::StatusCode::kUnauthenticated);
  KvStoreClientOptions options;
  options.bearer_token = "w-token-2";
  EXPECT_EQ(KvStoreClient(channel, options).Stats().status().code(),
            absl::StatusCode::kPermissionDenied);
  options.bearer_token = "w-token-1";
  EXPECT_TRUE(KvStoreClient(channel, options).Stats().ok());
  // Health stays open for probes.
  EXPECT_EQ(HealthStatus(process->address(), "gqa.v1.KvStore"), kServing);
}

TEST(KvStoreBinaryTest, BadFlagsAndAnUnusableDiskDirAreAClearExit) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::string file = TempPath("plain-file");
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(file, "not a directory").ok());
  const std::vector<Case> cases = {
      {{"--memory-bytes", "1GiB"}, 2, "--port is required"},
      {{"--port", "70000"}, 2, "--port '70000' must be in [0, 65535]"},
      {{"--port", "0", "--memory-bytes", "lots"}, 2, "--memory-bytes"},
      {{"--port", "0", "--disk-dir", "/tmp/x"}, 2, "--disk-dir needs --disk-bytes"},
      {{"--port", "0", "--memory-bytes", "0"}, 2, "no tier"},
      {{"--port", "0", "--tls-cert", "c.pem"}, 2, "--tls-cert and --tls-key go together"},
      {{"--port", "0", "--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"}, 2,
       "--tls-client-ca needs --allowed-identities"},
      {{"--port", "0", "--max-swap-ttl-ms", "0"}, 2, "--max-swap-ttl-ms"},
      {{"--port", "0", "--bogus", "1"}, 2, "--bogus"},
      {{"--port", "0", "--tokens-file", "/nonexistent/tokens"}, 1, "/nonexistent/tokens"},
      {{"--port", "0", "--disk-dir", file + "/sub", "--disk-bytes", "1GiB"}, 1,
       "cannot open the store"},
      {{"--port", "0", "--disk-dir", file, "--disk-bytes", "1GiB"}, 1, "cannot open the store"},
  };
  for (const Case& c : cases) {
    const GqaRun run = RunGqaForTesting(GQA_KVSTORE_BINARY, c.args);
    EXPECT_EQ(run.exit_code, c.exit_code) << c.message << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr(c.message));
  }
  const GqaRun help = RunGqaForTesting(GQA_KVSTORE_BINARY, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--disk-dir"));
}

}  // namespace
}  // namespace gqa::kvstore
