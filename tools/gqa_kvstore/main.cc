// gqa-kvstore: the shared KV block store, serving gqa.v1.KvStore on a TCP
// port over a TieredBlockStore (memory, then an optional disk directory, then
// an optional Redis Cluster), with the standard health service (also on its
// own plaintext port for probes), server reflection and Prometheus metrics.
//   gqa-kvstore --port P [--memory-bytes B] [--disk-dir D --disk-bytes B]
//               [--redis host:port,...] [--tokens-file F] [--tls-cert C --tls-key K
//               [--tls-client-ca CA --allowed-identities id,...]] [--metrics-port Q]
// Bad flags exit 2; a store, file or port it cannot use exits 1 with the
// reason. SIGTERM or SIGINT stops taking calls, lets calls in flight finish
// (5 s at most), refusing new ones with UNAVAILABLE, and exits 0.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "core/grpc/keepalive.h"
#include "core/status.h"
#include "kvstore/redis/redis_cluster_client.h"
#include "kvstore/service/authenticator.h"
#include "kvstore/service/grpc_auth.h"
#include "kvstore/service/kvstore_metrics.h"
#include "kvstore/service/kvstore_service.h"
#include "kvstore/store/tiered_block_store.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "tools/gqa/command_line.h"

namespace gqa::kvstore {
namespace {

constexpr char kServiceName[] = "gqa.v1.KvStore";

constexpr FlagSpec kFlags[] = {
    {"port"},          {"listen"},           {"memory-bytes"},   {"disk-dir"},
    {"disk-bytes"},    {"redis"},            {"tokens-file"},    {"tls-cert"},
    {"tls-key"},       {"tls-client-ca"},    {"allowed-identities"},
    {"max-swap-ttl-ms"}, {"max-block-bytes"}, {"store-threads"}, {"metrics-port"},
    {"health-port"}};

constexpr char kUsage[] = R"(usage: gqa-kvstore --port P [flags]

Serves gqa.v1.KvStore: the KV blocks workers swap out and the prefix blocks
they publish, in tiers: memory, then disk, then a Redis Cluster.
  --port P                gRPC port (0: pick a free one; the chosen port is printed)
  --listen A              address to bind; default 0.0.0.0
  --memory-bytes B        memory tier size (e.g. 4GiB; 0: no memory tier); default 1GiB
  --disk-dir D            disk tier directory (created; survives restarts)
  --disk-bytes B          disk tier size; required with --disk-dir
  --redis H:P[,H:P...]    a Redis Cluster tier below the others (seed nodes)
  --tokens-file F         accepted service tokens, one per line ('#' comments);
                          callers send "authorization: Bearer <token>"
  --tls-cert C --tls-key K
                          serve TLS with this certificate chain and key (PEM)
  --tls-client-ca CA      ask clients for a certificate signed by this CA (mTLS)
  --allowed-identities L  comma-separated CN/SAN values of accepted client
                          certificates; required with --tls-client-ca
  --max-swap-ttl-ms N     the longest swap block TTL a Put may ask; default 600000
  --max-block-bytes B     the largest block payload; default 64MiB
  --store-threads N       threads running store calls; default 4
  --metrics-port Q        serve Prometheus metrics (gqa_kvstore_*) on http://:Q/metrics
  --health-port H         also serve grpc.health.v1 alone on this plaintext port
Without --tokens-file and --tls-client-ca every caller is accepted. An accepted
caller may use every tenant: workers act for all of them.
)";

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa-kvstore: " << status.message() << "\n";
  return code;
}

// What the flags ask for, checked; INVALID_ARGUMENT naming the flag otherwise.
struct Config {
  int64_t port = 0;
  std::string listen = "0.0.0.0";
  std::optional<int64_t> metrics_port, health_port;
  TieredBlockStoreOptions store;
  std::vector<std::string> redis_seeds;
  std::string tokens_file;
  ServerTlsFiles tls;
  std::vector<std::string> identities;
  KvStoreServiceOptions service;
};

absl::StatusOr<int64_t> ParsePort(absl::string_view flag, absl::string_view text, bool allow_zero) {
  if (allow_zero && text == "0") return 0;
  absl::StatusOr<int64_t> port = ParsePositiveInt(flag, text);
  if (!port.ok() || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", text, "' must be in [", allow_zero ? 0 : 1, ", 65535]"));
  }
  return port;
}

absl::StatusOr<Config> ParseConfig(const CommandLine& flags) {
  Config config;
  if (!flags.Value("port")) return absl::InvalidArgumentError("--port is required");
  ASSIGN_OR_RETURN(config.port, ParsePort("--port", *flags.Value("port"), true));
  if (auto v = flags.Value("listen")) config.listen = *v;
  if (auto v = flags.Value("metrics-port")) {
    ASSIGN_OR_RETURN(config.metrics_port, ParsePort("--metrics-port", *v, false));
  }
  if (auto v = flags.Value("health-port")) {
    ASSIGN_OR_RETURN(config.health_port, ParsePort("--health-port", *v, false));
  }
  if (auto v = flags.Value("memory-bytes")) {
    if (*v == "0") {
      config.store.memory_bytes = 0;
    } else {
      ASSIGN_OR_RETURN(config.store.memory_bytes, ParseByteSize("--memory-bytes", *v));
    }
  }
  if (auto v = flags.Value("disk-dir")) config.store.disk_dir = *v;
  if (auto v = flags.Value("disk-bytes")) {
    if (config.store.disk_dir.empty()) {
      return absl::InvalidArgumentError("--disk-bytes needs --disk-dir");
    }
    ASSIGN_OR_RETURN(config.store.disk_bytes, ParseByteSize("--disk-bytes", *v));
  } else if (!config.store.disk_dir.empty()) {
    return absl::InvalidArgumentError("--disk-dir needs --disk-bytes (the disk tier's size)");
  }
  if (auto v = flags.Value("redis")) {
    ASSIGN_OR_RETURN(config.redis_seeds, SplitList("--redis", *v));
  }
  if (config.store.memory_bytes == 0 && config.store.disk_dir.empty() &&
      config.redis_seeds.empty()) {
    return absl::InvalidArgumentError(
        "no tier: --memory-bytes 0 needs --disk-dir or --redis");
  }
  if (auto v = flags.Value("tokens-file")) config.tokens_file = *v;
  config.tls.cert_path = flags.Value("tls-cert").value_or("");
  config.tls.key_path = flags.Value("tls-key").value_or("");
  config.tls.client_ca_path = flags.Value("tls-client-ca").value_or("");
  if (config.tls.cert_path.empty() != config.tls.key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!config.tls.client_ca_path.empty() && config.tls.cert_path.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (auto v = flags.Value("allowed-identities")) {
    if (config.tls.client_ca_path.empty()) {
      return absl::InvalidArgumentError("--allowed-identities needs --tls-client-ca");
    }
    ASSIGN_OR_RETURN(config.identities, ParseIdentityList(*v));
  } else if (!config.tls.client_ca_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --allowed-identities (the accepted CN/SAN values)");
  }
  if (auto v = flags.Value("max-swap-ttl-ms")) {
    ASSIGN_OR_RETURN(config.service.limits.max_swap_ttl_ms,
                     ParsePositiveInt("--max-swap-ttl-ms", *v));
  }
  if (auto v = flags.Value("max-block-bytes")) {
    ASSIGN_OR_RETURN(config.service.limits.max_block_bytes,
                     ParseByteSize("--max-block-bytes", *v));
  }
  if (auto v = flags.Value("store-threads")) {
    ASSIGN_OR_RETURN(int64_t threads, ParsePositiveInt("--store-threads", *v));
    config.service.num_store_threads = static_cast<int>(std::min<int64_t>(threads, 1 << 20));
  }
  if (absl::Status valid = ValidateLimits(config.service.limits); !valid.ok()) {
    return Annotate(valid, "--max-swap-ttl-ms or --max-block-bytes");
  }
  return config;
}

// The tiers a line of output describes: "memory 1.00 GiB, disk /d 10.00 GiB".
std::string DescribeTiers(const Config& config) {
  std::vector<std::string> tiers;
  if (config.store.memory_bytes > 0) {
    tiers.push_back(absl::StrCat("memory ", FormatBytes(config.store.memory_bytes)));
  }
  if (!config.store.disk_dir.empty()) {
    tiers.push_back(absl::StrCat("disk ", config.store.disk_dir, " ",
                                 FormatBytes(config.store.disk_bytes)));
  }
  if (!config.redis_seeds.empty()) {
    tiers.push_back(absl::StrCat("redis ", absl::StrJoin(config.redis_seeds, ",")));
  }
  return absl::StrJoin(tiers, ", ");
}

int Run(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait at the end, not by a handler; they
  // are blocked before any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), kFlags);
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("unexpected argument '", flags->positional()[0], "'")),
                2);
  }
  absl::StatusOr<Config> config = ParseConfig(*flags);
  if (!config.ok()) return Fail(config.status(), 2);
  Env* env = Env::Default();

  std::vector<std::string> tokens;
  if (!config->tokens_file.empty()) {
    absl::StatusOr<std::string> text = env->ReadFile(config->tokens_file);
    if (!text.ok()) return Fail(Annotate(text.status(), "cannot read --tokens-file"), 1);
    absl::StatusOr<std::vector<std::string>> parsed = ParseTokensFile(*text);
    if (!parsed.ok()) return Fail(Annotate(parsed.status(), config->tokens_file), 1);
    tokens = *std::move(parsed);
  }
  absl::StatusOr<Authenticator> auth = Authenticator::Create(tokens, config->identities);
  if (!auth.ok()) return Fail(auth.status(), 1);
  std::vector<std::string> auth_modes;
  if (!tokens.empty()) auth_modes.push_back("tokens");
  if (!config->identities.empty()) auth_modes.push_back("mtls");
  const std::string auth_mode = auth_modes.empty() ? "none" : absl::StrJoin(auth_modes, "+");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(config->tls, env);
  if (!credentials.ok()) return Fail(Annotate(credentials.status(), "TLS files"), 1);

  if (!config->redis_seeds.empty()) {
    RedisClusterOptions redis;
    redis.seed_addresses = config->redis_seeds;
    absl::StatusOr<std::unique_ptr<RedisClusterClient>> client =
        RedisClusterClient::Connect(redis);
    if (!client.ok()) return Fail(Annotate(client.status(), "cannot reach --redis"), 1);
    config->store.redis = *std::move(client);
  }
  const std::string tiers = DescribeTiers(*config);
  const std::string disk_dir = config->store.disk_dir;
  absl::StatusOr<std::unique_ptr<TieredBlockStore>> store =
      TieredBlockStore::Open(std::move(config->store));
  if (!store.ok()) return Fail(Annotate(store.status(), "cannot open the store"), 1);
  if (!disk_dir.empty() && access(disk_dir.c_str(), W_OK) != 0) {
    return Fail(absl::PermissionDeniedError(
                    absl::StrCat("the disk directory ", disk_dir, " is not writable")),
                1);
  }

  auto registry = std::make_shared<prometheus::Registry>();
  KvStoreMetrics metrics(*registry);
  auto store_collector = std::make_shared<StoreStatsCollector>(store->get());
  std::unique_ptr<prometheus::Exposer> exposer;
  if (config->metrics_port.has_value()) {
    try {  // prometheus-cpp reports a busy port by throwing
      exposer = std::make_unique<prometheus::Exposer>(
          absl::StrCat(config->listen, ":", *config->metrics_port));
    } catch (const std::exception& e) {
      return Fail(absl::UnavailableError(absl::StrCat("cannot serve metrics on port ",
                                                      *config->metrics_port, ": ", e.what())),
                  1);
    }
    exposer->RegisterCollectable(registry);
    exposer->RegisterCollectable(store_collector);
  }
  absl::StatusOr<std::unique_ptr<KvStoreService>> service =
      KvStoreService::Create(store->get(), *std::move(auth), &metrics, config->service);
  if (!service.ok()) return Fail(service.status(), 2);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int chosen_port = 0;
  builder.AddListeningPort(absl::StrCat(config->listen, ":", config->port), *credentials,
                           &chosen_port);
  builder.RegisterService(service->get());
  ApplyServerKeepalive(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || chosen_port == 0) {
    return Fail(absl::UnavailableError(
                    absl::StrCat("cannot listen on ", config->listen, ":", config->port)),
                1);
  }
  server->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  std::unique_ptr<grpc::Server> health_server;
  if (config->health_port.has_value()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(absl::StrCat(config->listen, ":", *config->health_port),
                                    grpc::InsecureServerCredentials());
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr) {
      return Fail(absl::UnavailableError(
                      absl::StrCat("cannot listen on the health port ", *config->health_port)),
                  1);
    }
    health_server->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  }
  std::cout << "gqa-kvstore listening on " << config->listen << ":" << chosen_port << " ("
            << tiers << "; auth: " << auth_mode << ")" << std::endl;
  if (auth_mode == "none") {
    std::cerr << "gqa-kvstore: no --tokens-file or --tls-client-ca: every caller is accepted\n";
  }
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "gqa-kvstore: signal " << signal << ", shutting down\n";
  server->GetHealthCheckService()->SetServingStatus(false);
  if (health_server) health_server->GetHealthCheckService()->SetServingStatus(false);
  // Calls in flight get 5 s to finish; new ones are refused UNAVAILABLE.
  // Then the server stops at once: gRPC's own Shutdown deadline would also
  // wait for the workers' idle connections to hang up.
  const int64_t left = (*service)->Drain(absl::Seconds(5));
  if (left > 0) std::cerr << "gqa-kvstore: cancelling " << left << " calls still in flight\n";
  server->Shutdown(std::chrono::system_clock::now());
  if (health_server) health_server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace gqa::kvstore

int main(int argc, char** argv) {
  // NOTE: blocks are 64 KiB to 64 MiB buffers allocated and freed at a high
  // rate. glibc hands large frees back to the kernel (mmap threshold, heap
  // trimming), so each new buffer was faulted in and zeroed again: a fifth
  // of the server's CPU. Keep them in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed threshold
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // NOTE: Debian's Abseil is built with Mutex deadlock detection on, which
  // records every lock acquisition in a process-wide graph: 2-5% of this
  // process's CPU in a profile of 64 KiB Puts and Gets. The unit tests keep
  // it; the binary turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return gqa::kvstore::Run(argc, argv);
}
