// A cluster of separate hosts on one machine: the router, two workers and the
// kvstore each in its own network namespace, on one bridge (NetnsTopology);
// the test is the client, on the bridge's address. The router finds the
// workers by address. As in tools/gqa_router/router_cluster_test.cc, the
// workers are --fake-model workers reporting a tiny model's identity, whose
// tokens are a deterministic function of prompt and position, so a stream
// that fails over must come out exactly as an undisturbed one. Pulling a
// worker's link must be handled like a crash, and plugging it back in must
// return that worker to service. Skips, saying why, without root.
#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "deploy/local/netns_topology.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "gtest/gtest.h"
#include "tools/gqa/child_process.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

// Every host listens on the port its Kubernetes pod would (deploy/k8s/base):
// each namespace has its own port space.
constexpr char kRouterPort[] = "50051";
constexpr char kWorkerPort[] = "50061";
constexpr char kKvStorePort[] = "50071";
constexpr int kRouterMetricsPort = 9402;
constexpr int kStreams = 20;
constexpr int kTokens = 40;

struct Stream {
  grpc::Status status;
  std::vector<int32_t> token_ids;
  std::string text;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
};

class NetnsClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (absl::Status available = NetnsTopology::CheckAvailable(); !available.ok()) {
      GTEST_SKIP() << "no multi-host cluster: " << available.message();
    }
    NetnsTopology::RemoveStale();
    absl::StatusOr<std::unique_ptr<NetnsTopology>> topology =
        NetnsTopology::Create({"router", "worker-a", "worker-b", "kvstore"});
    ASSERT_TRUE(topology.ok()) << topology.status();
    topology_ = *std::move(topology);
    model_ = absl::StrCat(testing::TempDir(), "/netns-cluster-", getpid(), ".gguf");
    ASSERT_TRUE(Env::Default()->WriteFileAtomically(model_, RandomLlamaGguf({.seed = 5})).ok());

    kvstore_ = Start("kvstore", {GQA_KVSTORE_BINARY, "--port", kKvStorePort, "--listen",
                                 Address("kvstore"), "--memory-bytes", "64MiB"});
    for (const char* name : {"worker-a", "worker-b"}) {
      workers_.push_back(
          Start(name, {GQA_WORKER_BINARY, "--fake-model", "--model", model_, "--port", kWorkerPort,
                       "--listen", Address(name), "--fake-ttft-ms", "20", "--fake-itl-ms", "25",
                       "--kvstore", absl::StrCat(Address("kvstore"), ":", kKvStorePort)}));
    }
    router_ = Start(
        "router", {GQA_ROUTER_BINARY, "--model", model_, "--port", kRouterPort, "--listen",
                   Address("router"), "--workers",
                   absl::StrCat(Address("worker-a"), ":", kWorkerPort, ",", Address("worker-b"),
                                ":", kWorkerPort),
                   "--policy", "round-robin", "--poll-interval-ms", "100", "--progress-timeout-ms",
                   "3000", "--metrics-port", std::to_string(kRouterMetricsPort)});
    ASSERT_TRUE(kvstore_ && workers_[0] && workers_[1] && router_) << "a host did not start";
    stub_ = v1::Inference::NewStub(grpc::CreateChannel(
        absl::StrCat(Address("router"), ":", kRouterPort), grpc::InsecureChannelCredentials()));
  }

  // Children stop before the namespaces they live in are deleted.
  void TearDown() override {
    router_.reset();
    workers_.clear();
    kvstore_.reset();
    topology_.reset();
  }

  std::string Address(const std::string& host) { return topology_->host(host).address; }

  std::unique_ptr<ChildProcess> Start(const std::string& host, std::vector<std::string> argv) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> child =
        ChildProcess::Start(topology_->InHost(host, std::move(argv)));
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return nullptr;
    absl::StatusOr<std::string> address = (*child)->WaitForListenAddress(absl::Seconds(30));
    EXPECT_TRUE(address.ok()) << host << ": " << address.status();
    // It listens on its own host's address, not on loopback.
    EXPECT_TRUE(absl::StartsWith(address.value_or(""), Address(host) + ":"))
        << address.value_or("");
    return *std::move(child);
  }

  // The router's /metrics page, fetched over the network ("" on failure).
  std::string RouterMetrics() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(kRouterMetricsPort);
    inet_pton(AF_INET, Address("router").c_str(), &address.sin_addr);
    std::string page;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      const std::string request = "GET /metrics HTTP/1.0\r\nHost: router\r\n\r\n";
      if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof(buffer))) > 0) page.append(buffer, n);
      }
    }
    close(fd);
    return page;
  }

  // True once the router's metrics contain `line` (within `timeout`).
  bool RouterReportsWithin(const std::string& line, absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (absl::StrContains(RouterMetrics(), line)) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  static v1::GenerateRequest Request(const std::string& text) {
    v1::GenerateRequest request;
    request.set_text(text);
    request.set_max_tokens(kTokens);
    request.set_ignore_eos(true);
    request.mutable_sampling()->set_temperature(0.0f);
    return request;
  }

  Stream Generate(const v1::GenerateRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto reader = stub_->Generate(&context, request);
    Stream stream;
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
      stream.token_ids.insert(stream.token_ids.end(), response.token_ids().begin(),
                              response.token_ids().end());
      stream.text += response.text();
      if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        stream.finish = response.finish_reason();
      }
    }
    stream.status = reader->Finish();
    return stream;
  }

  // True once a one-token request succeeds (within `timeout`).
  bool ServesWithin(absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      v1::GenerateRequest probe = Request("probe");
      probe.set_max_tokens(1);
      if (Generate(probe).status.ok()) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  // kStreams concurrent streams; `disturb` runs about 15 tokens into them.
  std::vector<Stream> Streams(const std::function<void()>& disturb) {
    std::vector<Stream> streams(kStreams);
    std::vector<std::thread> clients;
    for (int i = 0; i < kStreams; ++i) {
      clients.emplace_back(
          [this, i, &streams] { streams[i] = Generate(Request(absl::StrCat("stream ", i))); });
    }
    absl::SleepFor(absl::Milliseconds(400));
    disturb();
    for (std::thread& client : clients) client.join();
    return streams;
  }

  static void ExpectUnchanged(const std::vector<Stream>& undisturbed,
                              const std::vector<Stream>& disturbed) {
    for (int i = 0; i < kStreams; ++i) {
      ASSERT_TRUE(disturbed[i].status.ok()) << i << ": " << disturbed[i].status.error_message();
      EXPECT_EQ(disturbed[i].token_ids, undisturbed[i].token_ids) << "stream " << i;
      EXPECT_EQ(disturbed[i].text, undisturbed[i].text) << "stream " << i;
      EXPECT_EQ(disturbed[i].finish, v1::FINISH_REASON_LENGTH) << "stream " << i;
    }
  }

  std::vector<Stream> Undisturbed() {
    EXPECT_TRUE(ServesWithin(absl::Seconds(20))) << "the router never served a request";
    std::vector<Stream> streams = Streams([] {});
    for (const Stream& stream : streams) {
      EXPECT_TRUE(stream.status.ok()) << stream.status.error_message();
      EXPECT_EQ(stream.token_ids.size(), static_cast<size_t>(kTokens));
    }
    return streams;
  }

  std::unique_ptr<NetnsTopology> topology_;
  std::string model_;
  std::unique_ptr<ChildProcess> kvstore_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::unique_ptr<ChildProcess> router_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

TEST_F(NetnsClusterTest, EachHostReachesOnlyThroughTheNetwork) {
  // The hosts are not on loopback: the router's port is closed on the
  // workers' hosts, and open from the client and from a worker's host.
  const std::string router = absl::StrCat(Address("router"), "/", kRouterPort);
  EXPECT_NE(
      topology_->RunInHost("worker-a", absl::StrCat("exec 3<>/dev/tcp/127.0.0.1/", kRouterPort)),
      0);
  EXPECT_EQ(topology_->RunInHost("worker-a", absl::StrCat("exec 3<>/dev/tcp/", router)), 0);
  // worker -> kvstore, host to host.
  EXPECT_EQ(topology_->RunInHost("worker-b", absl::StrCat("exec 3<>/dev/tcp/", Address("kvstore"),
                                                          "/", kKvStorePort)),
            0);
  EXPECT_TRUE(ServesWithin(absl::Seconds(20)));
}

TEST_F(NetnsClusterTest, KillNineOfAWorkerLosesNoToken) {
  const std::vector<Stream> undisturbed = Undisturbed();
  const std::vector<Stream> disturbed =
      Streams([this] { ASSERT_EQ(kill(workers_[0]->pid(), SIGKILL), 0); });
  ExpectUnchanged(undisturbed, disturbed);
}

TEST_F(NetnsClusterTest, ALinkDownIsACrashAndLinkUpReturnsTheWorker) {
  const std::vector<Stream> undisturbed = Undisturbed();
  const absl::Time start = absl::Now();
  const std::vector<Stream> disturbed =
      Streams([this] { ASSERT_TRUE(topology_->SetLink("worker-a", false).ok()); });
  ExpectUnchanged(undisturbed, disturbed);
  // A dead link is noticed by the stream progress timeout (3 s here).
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));

  const std::string worker_a = absl::StrCat("worker=\"", Address("worker-a"), ":", kWorkerPort);
  EXPECT_TRUE(RouterReportsWithin("gqa_router_workers{state=\"down\"} 1", absl::Seconds(5)))
      << RouterMetrics();
  EXPECT_TRUE(RouterReportsWithin(worker_a + "\"} 0", absl::Seconds(1))) << RouterMetrics();

  // Link back up: the router reports worker-a ready again. Then worker-b
  // dies for good: requests succeed only if the router has taken worker-a back.
  ASSERT_TRUE(topology_->SetLink("worker-a", true).ok());
  EXPECT_TRUE(RouterReportsWithin(worker_a + "\"} 1", absl::Seconds(20))) << RouterMetrics();
  ASSERT_EQ(kill(workers_[1]->pid(), SIGKILL), 0);
  ASSERT_TRUE(ServesWithin(absl::Seconds(20))) << "worker-a never returned to service";
  ExpectUnchanged(undisturbed, Streams([] {}));
}

}  // namespace
}  // namespace gqa
