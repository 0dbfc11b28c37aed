// gqa-router: the public gqa.v1.Inference service in front of a pool of
// workers. It loads only the tokenizer and shape from the model file (the
// weights stay on disk), accepts workers whose fingerprints match, and routes
// each sequence by the chosen policy, failing over when a worker dies.
//   gqa-router --model M --workers host:port[,dns:name:port...] --port P
//              [--policy P] [--api-keys F] [--tls-cert C --tls-key K [--tls-client-ca A]]
//              [--health-port H] [--metrics-port Q]
//              [--http-port H]   (the OpenAI-compatible HTTP front, router/http/)
// Bad flags exit 2, a model it cannot read exits 1. SIGTERM or SIGINT stops
// accepting calls, lets running ones finish (up to --drain-seconds) and exits.
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "prometheus/exposer.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/env.h"
#include "core/grpc/keepalive.h"
#include "core/status.h"
#include "router/http/http_front.h"
#include "router/inference_service.h"
#include "router/router_metrics.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"

namespace gqa {
namespace {

constexpr FlagSpec kFlags[] = {
    {"model"},        {"workers"},       {"port"},           {"listen"},
    {"policy"},       {"api-keys"},      {"tls-cert"},       {"tls-key"},
    {"tls-client-ca"}, {"health-port"},  {"max-in-flight"},  {"max-queued"},
    {"max-attempts"}, {"progress-timeout-ms"}, {"poll-interval-ms"}, {"drain-seconds"},
    {"http-port"},    {"http-threads"},  {"http-max-body-bytes"}, {"metrics-port"}};

constexpr char kUsage[] = R"(usage: gqa-router --workers W --port P [flags]

Serves gqa.v1.Inference, routing each sequence to a gqa-worker.
  --model M               the model file the workers serve (its tokenizer is
                          used; weights are not read); default: the default model
  --workers W             comma-separated host:port or dns:host:port (every address
                          of a DNS name, re-resolved every 5 s: a headless service)
  --port P                gRPC port (0: pick one; the chosen port is printed)
  --listen A              address to bind; default 0.0.0.0
  --policy P              round-robin|least-loaded|prefix-affinity|kv-aware;
                          default least-loaded
  --api-keys F            key file: "<key> tenant=<t> [max_priority=N] [max_streams=N]
                          [models=a,b]" per line; without it every caller is tenant
                          "default" (for a local cluster only)
  --tls-cert C --tls-key K  serve TLS; with --tls-client-ca A also require client
                          certificates signed by A (mTLS)
  --health-port H         also serve grpc.health.v1 alone on this plaintext port
  --metrics-port Q        serve Prometheus metrics (gqa_router_*) on http://:Q/metrics
  --max-in-flight N       sequences running at once; default 256
  --max-queued N          calls waiting for a slot before RESOURCE_EXHAUSTED; default 1024
  --max-attempts N        worker attempts per sequence (failovers + 1); default 4
  --progress-timeout-ms T fail over when a worker sends nothing for T ms; default 30000
  --poll-interval-ms T    how often each worker's load is polled; default 200
  --drain-seconds S       on SIGTERM, how long running calls may finish; default 30
  --http-port H           also serve the OpenAI-compatible HTTP API (/v1/chat/completions,
                          /v1/completions, /v1/models, /health) on --listen:H, plaintext
                          (0: pick one; printed as "http on HOST:PORT")
  --http-threads N        HTTP connections served at once (each stream holds one); default 128
  --http-max-body-bytes B larger HTTP request bodies get 413; default 1048576
)";

// GET /health: OK while some worker is ready.
absl::Status PoolHealth(const WorkerPool& pool) {
  std::string problems;
  for (const std::shared_ptr<WorkerEndpoint>& endpoint : pool.Endpoints()) {
    const WorkerState state = endpoint->state();
    if (state.ready) return absl::OkStatus();
    absl::StrAppend(&problems, problems.empty() ? "" : "; ", endpoint->address(), ": ",
                    state.problem);
  }
  return absl::UnavailableError(absl::StrCat("no worker is ready",
                                             problems.empty() ? "" : " (" + problems + ")"));
}

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa-router: " << status.message() << "\n";
  return code;
}

absl::StatusOr<int64_t> IntFlag(const CommandLine& flags, absl::string_view name, int64_t fallback,
                                int64_t low, int64_t high) {
  std::optional<std::string> value = flags.Value(name);
  if (!value.has_value()) return fallback;
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(*value, &parsed) || parsed < low || parsed > high) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " ", *value, ": expected an integer in [", low, ", ", high, "]"));
  }
  return parsed;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const CommandLine& flags) {
  const std::optional<std::string> cert = flags.Value("tls-cert");
  const std::optional<std::string> key = flags.Value("tls-key");
  const std::optional<std::string> ca = flags.Value("tls-client-ca");
  if (!cert && !key && !ca) return grpc::InsecureServerCredentials();
  if (!cert || !key) return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  grpc::SslServerCredentialsOptions options(
      ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
         : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, Env::Default()->ReadFile(*cert));
  ASSIGN_OR_RETURN(pair.private_key, Env::Default()->ReadFile(*key));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (ca) {
    ASSIGN_OR_RETURN(options.pem_root_certs, Env::Default()->ReadFile(*ca));
  }
  return grpc::SslServerCredentials(options);
}

int Run(int argc, char** argv) {
  sigset_t signals;  // taken by sigwait; blocked before any thread starts
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a write to an HTTP client that left fails instead
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(
      absl::MakeConstSpan(argv + 1, argv + argc), absl::MakeConstSpan(kFlags));
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!flags->Value("workers")) return Fail(absl::InvalidArgumentError("--workers is required"), 2);
  if (!flags->Value("port")) return Fail(absl::InvalidArgumentError("--port is required"), 2);
  absl::StatusOr<int64_t> port = IntFlag(*flags, "port", 0, 0, 65535);
  absl::StatusOr<int64_t> max_in_flight = IntFlag(*flags, "max-in-flight", 256, 1, 1 << 20);
  absl::StatusOr<int64_t> max_queued = IntFlag(*flags, "max-queued", 1024, 0, 1 << 20);
  absl::StatusOr<int64_t> max_attempts = IntFlag(*flags, "max-attempts", 4, 1, 100);
  absl::StatusOr<int64_t> progress_ms = IntFlag(*flags, "progress-timeout-ms", 30000, 100, 3600000);
  absl::StatusOr<int64_t> poll_ms = IntFlag(*flags, "poll-interval-ms", 200, 10, 60000);
  absl::StatusOr<int64_t> drain_s = IntFlag(*flags, "drain-seconds", 30, 0, 3600);
  absl::StatusOr<int64_t> health_port = IntFlag(*flags, "health-port", 0, 1, 65535);
  absl::StatusOr<int64_t> http_port = IntFlag(*flags, "http-port", 0, 0, 65535);
  absl::StatusOr<int64_t> http_threads = IntFlag(*flags, "http-threads", 128, 1, 4096);
  absl::StatusOr<int64_t> http_body = IntFlag(*flags, "http-max-body-bytes", 1 << 20, 1024,
                                              int64_t{1} << 30);
  absl::StatusOr<int64_t> metrics_port = IntFlag(*flags, "metrics-port", 0, 1, 65535);
  for (const auto* value : {&port, &max_in_flight, &max_queued, &max_attempts, &progress_ms,
                            &poll_ms, &drain_s, &health_port, &http_port, &http_threads,
                            &http_body, &metrics_port}) {
    if (!value->ok()) return Fail(value->status(), 2);
  }
  RouterOptions options;
  options.instance_id = absl::StrCat("router-", getpid());
  options.admission.max_in_flight = *max_in_flight;
  options.admission.max_queued = *max_queued;
  options.relay.max_attempts = static_cast<int>(*max_attempts);
  options.relay.progress_timeout = absl::Milliseconds(*progress_ms);
  if (auto policy = flags->Value("policy")) {
    absl::StatusOr<RoutingPolicyKind> kind = ParseRoutingPolicy(*policy);
    if (!kind.ok()) return Fail(kind.status(), 2);
    options.policy = *kind;
  }
  ApiKeys keys = ApiKeys::Open();
  if (auto file = flags->Value("api-keys")) {
    absl::StatusOr<std::string> text = Env::Default()->ReadFile(*file);
    if (!text.ok()) return Fail(Annotate(text.status(), "--api-keys"), 2);
    absl::StatusOr<ApiKeys> parsed = ApiKeys::Parse(*text, *file);
    if (!parsed.ok()) return Fail(parsed.status(), 2);
    keys = *std::move(parsed);
  } else {
    std::cerr << "gqa-router: no --api-keys: every caller is tenant 'default' (local use only)\n";
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentials(*flags);
  if (!credentials.ok()) return Fail(credentials.status(), 2);

  const std::string model_path = flags->Value("model").value_or(DefaultModelPath());
  absl::StatusOr<ModelFile> model = OpenModelFile(Env::Default(), model_path);
  if (!model.ok()) return Fail(Annotate(model.status(), "cannot read the model"), 1);

  WorkerPoolOptions pool_options;
  pool_options.targets = absl::StrSplit(*flags->Value("workers"), ',', absl::SkipEmpty());
  pool_options.endpoint.model_fingerprint = model->fingerprint();
  pool_options.endpoint.tokenizer_fingerprint = model->tokenizer->Fingerprint();
  pool_options.endpoint.poll_interval = absl::Milliseconds(*poll_ms);
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = WorkerPool::Create(pool_options);
  if (!pool.ok()) return Fail(pool.status(), 2);

  auto service = std::make_unique<InferenceService>(&*model, &keys, pool->get(), options);
  // The exposer holds collectables by weak_ptr: this one lives here.
  auto router_stats = std::make_shared<RouterStatsCollector>(pool->get(), &service->admission());
  std::unique_ptr<prometheus::Exposer> exposer;
  const std::string listen = flags->Value("listen").value_or("0.0.0.0");
  if (flags->Value("metrics-port")) {
    try {  // prometheus-cpp reports a busy port by throwing
      exposer = std::make_unique<prometheus::Exposer>(absl::StrCat(listen, ":", *metrics_port));
    } catch (const std::exception& e) {
      return Fail(absl::UnavailableError(absl::StrCat("cannot serve metrics on port ",
                                                      *metrics_port, ": ", e.what())),
                  1);
    }
    exposer->RegisterCollectable(router_stats);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int chosen_port = 0;
  builder.AddListeningPort(absl::StrCat(listen, ":", *port), *credentials, &chosen_port);
  builder.RegisterService(service.get());
  ApplyServerKeepalive(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || chosen_port == 0) {
    return Fail(absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ":", *port)), 1);
  }
  std::unique_ptr<grpc::Server> health_server;
  if (flags->Value("health-port")) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(absl::StrCat(listen, ":", *health_port),
                                    grpc::InsecureServerCredentials());
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr) {
      return Fail(absl::UnavailableError(
                      absl::StrCat("cannot listen on the health port ", *health_port)),
                  1);
    }
  }
  std::unique_ptr<HttpFront> http;
  if (flags->Value("http-port")) {
    // NOTE(http): the front calls this server's own Inference service over an
    // in-process channel, so HTTP requests take the gRPC API's one path.
    HttpFrontOptions http_options;
    http_options.listen = listen;
    http_options.port = static_cast<int>(*http_port);
    http_options.num_threads = static_cast<int>(*http_threads);
    http_options.max_body_bytes = static_cast<size_t>(*http_body);
    WorkerPool* pool_ptr = pool->get();
    absl::StatusOr<std::unique_ptr<HttpFront>> started =
        HttpFront::Start(server->InProcessChannel(grpc::ChannelArguments()), &*model,
                         [pool_ptr] { return PoolHealth(*pool_ptr); }, http_options);
    if (!started.ok()) return Fail(started.status(), 1);
    http = *std::move(started);
  }
  std::cout << "gqa-router listening on " << listen << ":" << chosen_port << " (model "
            << model->name << ", " << pool_options.targets.size() << " worker target(s))"
            << (http ? absl::StrCat("; http on ", listen, ":", http->port()) : "") << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "gqa-router: signal " << signal << ", finishing running calls\n";
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(*drain_s));
  http.reset();  // its streams ended with the server's calls
  if (health_server) health_server->Shutdown();
  exposer.reset();  // its collector reads the service's admission state
  service.reset();
  return 0;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) { return gqa::Run(argc, argv); }
