// The worker's /metrics scraped by the real Prometheus server (Debian's
// `prometheus`, installed by scripts/setup.sh) and read back through its
// HTTP query API. Starts a Prometheus process on a free loopback port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <grpcpp/create_channel.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gtest/gtest.h"
#include "worker/service/testing/free_port.h"
#include "nlohmann/json.hpp"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/service/engine_loop.h"
#include "worker/service/worker_service.h"

namespace gqa {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// A plain HTTP/1.0 GET on loopback; the body, or "" on any failure.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The value of the first sample of an instant query, or -1.
double QueryValue(int port, const std::string& query) {
  const std::string body = HttpGet(port, absl::StrCat("/api/v1/query?query=", query));
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("status", "") != "success") return -1;
  const auto& result = j["data"]["result"];
  if (!result.is_array() || result.empty()) return -1;
  return std::stod(result[0]["value"][1].get<std::string>());
}

TEST(PrometheusScrapeTest, TheRealServerReadsTheWorkerSeries) {
  ASSERT_EQ(access(kPrometheus, X_OK), 0)
      << kPrometheus << " is missing; scripts/setup.sh installs Debian's prometheus";
  // A worker with metrics on an ephemeral port, after 3 finished requests.
  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(*registry, 128.0);
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(registry);
  const int metrics_port = exposer.GetListeningPorts().at(0);
  TinyEngine engine = MakeTinyEngine({.seed = 4});
  EngineLoop loop(engine.model.get(), engine.storage.get(), Env::Default(), {}, &metrics);
  WorkerService service(&loop, WorkerInfo{});
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::Worker::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                                      grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 3; ++i) {
    v1::SubmitRequest request;
    request.set_request_id(absl::StrCat("m", i));
    request.set_tenant("t");
    request.add_prompt_token_ids(1 + i);
    request.add_prompt_token_ids(2);
    request.set_max_new_tokens(4);
    request.mutable_sampling()->set_temperature(0.0f);
    grpc::ClientContext context;
    auto reader = stub->Submit(&context, request);
    v1::SubmitResponse response;
    while (reader->Read(&response)) {
    }
    ASSERT_TRUE(reader->Finish().ok());
  }

  // Prometheus scraping it every second.
  Env* env = Env::Default();
  const std::string dir = absl::StrCat(testing::TempDir(), "/prometheus-", getpid());
  ASSERT_TRUE(env->CreateDirs(dir).ok());
  const std::string config = absl::StrCat(dir, "/prometheus.yml");
  ASSERT_TRUE(env->WriteFileAtomically(config, absl::StrCat(
                  "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: worker\n"
                  "    static_configs:\n      - targets: ['127.0.0.1:", metrics_port, "']\n"))
                  .ok());
  const int prometheus_port = FreeLoopbackPortForTesting();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string config_flag = absl::StrCat("--config.file=", config);
    const std::string storage_flag = absl::StrCat("--storage.tsdb.path=", dir, "/data");
    const std::string listen_flag = absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port);
    execl(kPrometheus, kPrometheus, config_flag.c_str(), storage_flag.c_str(), listen_flag.c_str(),
          "--log.level=warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  double requests = -1, ttft_count = -1, kv_bytes = -1;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    requests = QueryValue(prometheus_port, "gqa_worker_requests_total%7Boutcome%3D%22length%22%7D");
    ttft_count = QueryValue(prometheus_port, "gqa_worker_time_to_first_token_seconds_count");
    kv_bytes = QueryValue(prometheus_port, "gqa_worker_kv_bytes_per_token");
    if (requests >= 0 && ttft_count >= 0 && kv_bytes >= 0) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(ttft_count, 3);
  EXPECT_EQ(kv_bytes, 128);
  server->Shutdown();
}

}  // namespace
}  // namespace gqa
