// gqa-worker: one worker (a single rank on the CPU backend) serving
// gqa.v1.Worker on a TCP port, with the standard health service (optionally on
// its own plaintext port for Kubernetes probes) and server reflection.
//   gqa-worker --model M --port P [--health-port H] [--metrics-port Q] [--threads N]
//              [--kv-dtype D] [--kv-bytes B] [--kv-policy P] [--max-running N]
//              [--tp N [--rank R --tp-addr HOST:PORT] [--tp-timeout-ms T] [--tp-comm C]]
// A worker that cannot load its model exits 1 with the reason; bad flags exit 2.
// SIGTERM or SIGINT drains (running sequences finish) and stops.
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "absl/strings/str_cat.h"
#include "core/grpc/keepalive.h"
#include "core/status.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"
#include "tools/gqa/tp_group.h"
#include "tools/gqa/backend_flag.h"
#include "worker/engine/model_file.h"
#include "worker/service/engine_loop.h"
#include "worker/service/fake_engine.h"
#include "worker/service/kvstore_prefix_tier.h"
#include "worker/service/kvstore_swap_tier.h"
#include "worker/service/worker_metrics.h"
#include "worker/service/worker_service.h"

namespace gqa {
namespace {

constexpr FlagSpec kWorkerFlags[] = {{"port"},        {"health-port"}, {"metrics-port"},
                                     {"backend"},     {"max-running"}, {"max-waiting"},
                                     {"listen"},      {"fake-model", false},
                                     {"fake-ttft-ms"}, {"fake-itl-ms"}, {"kvstore"},
                                     {"kvstore-token"}, {"kvstore-prefix-dtype"},
                                     {"kvstore-swap-ttl-ms"}, {"no-kvstore-swap", false},
                                     {"cache-snapshot-interval"}};

constexpr char kUsage[] = R"(usage: gqa-worker [flags]

Serves gqa.v1.Worker for one model on the CPU backend (or one GPU).
  --port P          gRPC port (0: pick a free one; the chosen port is printed)
  --listen A        address to bind; default 0.0.0.0
  --health-port H   also serve grpc.health.v1 alone on this plaintext port
  --metrics-port Q  serve Prometheus metrics (gqa_worker_*) on http://:Q/metrics
  --backend cpu|cuda  the backend that serves; default cpu. cuda: the model, its
                    KV cache and every step on GPU 0 (quantized weights dequantized
                    to bf16 at load; docs/cuda-backend.md); exits 1 without a GPU.
                    Not with --tp > 1, --kvstore or --fake-model
  --max-running N   sequences in the running batch; default 64
  --max-waiting N   queued requests before RESOURCE_EXHAUSTED; default 1024
  --cache-snapshot-interval S  seconds between the full snapshots that
                    WatchCacheEvents sends every watcher; default 60
  --kvstore ADDR    share prefix blocks through a gqa-kvstore at ADDR: publish every
                    full prefix block computed here, and fetch a new prompt's stored
                    blocks before prefilling it (full policy only); and swap sequences
                    preempted when KV blocks run out to it, so they continue exactly
                    where they stopped instead of being recomputed
  --kvstore-swap-ttl-ms T  how long the kvstore keeps an unclaimed swapped
                    sequence; default 600000
  --no-kvstore-swap recompute preempted sequences even with --kvstore
  --kvstore-token T the kvstore's service token, if it requires one
  --kvstore-prefix-dtype fp8-e4m3|fp8-e5m2
                    store published prefix blocks of an f32/f16/bf16 cache as FP8 with
                    per-token scales (smaller; reused prefixes then differ within the
                    bound in docs/kv-cache.md)
  --tp N            tensor parallelism over N ranks, one process each (docs/tensor-parallel.md);
                    without --rank this process is rank 0 and starts ranks 1..N-1 itself
  --rank R          join as rank R of a group whose rank 0 listens on --tp-addr
  --tp-addr A       HOST:PORT of rank 0's rendezvous store; default: a free loopback port
                    (launcher) or 127.0.0.1:29400
  --tp-timeout-ms T bound on the rendezvous and every collective; default 10000
  --tp-comm gloo|nccl
                    the group's collectives: gloo (TCP, default) or nccl (rank R on CUDA
                    device R; CUDA builds only). --tp 1 --tp-comm nccl runs a group of one
  --fake-model      serve the same API with no model: the first token
                    --fake-ttft-ms (default 50) after a request arrives, then one
                    every --fake-itl-ms (default 20); for load-harness checks.
                    With --model, it reports that file's shape and fingerprints
                    (so a router accepts it) without loading the weights
)";

// The shape a --fake-model worker reports: a Llama-2-7B-sized vocabulary and
// a long context, so the harness can send realistic token ids and lengths.
ModelConfig FakeModelConfig() {
  ModelConfig config;
  config.num_layers = 1;
  config.num_query_heads = 1;
  config.num_kv_heads = 1;
  config.head_dim = 64;
  config.hidden_size = 64;
  config.intermediate_size = 64;
  config.vocab_size = 32000;
  config.context_tokens = 131072;
  return config;
}

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa-worker: " << status.message() << "\n";
  return code;
}

int Run(int argc, char** argv) {
  // SIGTERM/SIGINT are taken by sigwait at the end, not by a handler. They
  // are blocked before any thread starts, so every thread inherits the mask
  // and none of them dies of the default action.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::vector<FlagSpec> specs(std::begin(kLocalEngineFlags), std::end(kLocalEngineFlags));
  specs.insert(specs.end(), std::begin(kWorkerFlags), std::end(kWorkerFlags));
  specs.insert(specs.end(), std::begin(kTpFlags), std::end(kTpFlags));
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), specs);
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kUsage << kLocalEngineUsage;
    return 0;
  }
  if (!flags->Value("port")) return Fail(absl::InvalidArgumentError("--port is required"), 2);
  int64_t port = 0;
  if (*flags->Value("port") != "0") {
    absl::StatusOr<int64_t> parsed = ParsePositiveInt("--port", *flags->Value("port"));
    if (!parsed.ok() || *parsed > 65535) {
      return Fail(absl::InvalidArgumentError("--port must be in [0, 65535]"), 2);
    }
    port = *parsed;
  }
  std::optional<int64_t> health_port, metrics_port;
  for (auto [flag, target] : {std::pair{"health-port", &health_port},
                              std::pair{"metrics-port", &metrics_port}}) {
    if (auto v = flags->Value(flag)) {
      absl::StatusOr<int64_t> parsed = ParsePositiveInt(absl::StrCat("--", flag), *v);
      if (!parsed.ok() || *parsed > 65535) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--", flag, " must be in [1, 65535]")),
                    2);
      }
      *target = *parsed;
    }
  }
  absl::StatusOr<TpFlags> tp = ParseTpFlags(*flags);
  if (!tp.ok()) return Fail(tp.status(), 2);
  std::unique_ptr<Backend> gpu;  // null: the CPU backend
  if (auto backend = flags->Value("backend"); backend && *backend != "cpu") {
    // NOTE: the kvstore's block transfer (kv_block_transfer.h) and the tp
    // followers read or run the cache in host memory.
    if (*backend == "cuda" && (flags->Has("fake-model") || flags->Value("kvstore") || tp->tp > 1)) {
      return Fail(absl::InvalidArgumentError(
                      "--backend cuda works with neither --tp > 1, --kvstore nor --fake-model yet"),
                  2);
    }
    absl::StatusOr<std::unique_ptr<Backend>> made = BackendForFlag(*backend);
    if (!made.ok()) {
      return Fail(made.status(), made.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
    }
    gpu = *std::move(made);
    std::cerr << "gqa-worker: serving on the " << gpu->name() << " backend\n";
  }
  SchedulerOptions options;
  for (auto [flag, target] : {std::pair{"max-running", &options.max_running},
                              std::pair{"max-waiting", &options.max_waiting}}) {
    if (auto v = flags->Value(flag)) {
      absl::StatusOr<int64_t> parsed = ParsePositiveInt(absl::StrCat("--", flag), *v);
      if (!parsed.ok()) return Fail(parsed.status(), 2);
      *target = *parsed;
    }
  }
  absl::Duration cache_snapshot_interval = absl::Seconds(60);
  if (auto v = flags->Value("cache-snapshot-interval")) {
    absl::StatusOr<int64_t> parsed = ParsePositiveInt("--cache-snapshot-interval", *v);
    if (!parsed.ok()) return Fail(parsed.status(), 2);
    cache_snapshot_interval = absl::Seconds(*parsed);
  }
  const bool fake = flags->Has("fake-model");
  FakeEngineOptions fake_options;
  for (auto [flag, target] : {std::pair{"fake-ttft-ms", &fake_options.ttft},
                              std::pair{"fake-itl-ms", &fake_options.itl}}) {
    if (auto v = flags->Value(flag)) {
      if (!fake) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--", flag, " needs --fake-model")), 2);
      }
      absl::StatusOr<int64_t> parsed = ParsePositiveInt(absl::StrCat("--", flag), *v);
      if (!parsed.ok()) return Fail(parsed.status(), 2);
      *target = absl::Milliseconds(*parsed);
    }
  }
  std::unique_ptr<LocalEngine> local;
  std::optional<ModelFile> fake_model_file;
  if (fake && flags->Value("model")) {
    absl::StatusOr<ModelFile> file = OpenModelFile(Env::Default(), *flags->Value("model"));
    if (!file.ok()) return Fail(Annotate(file.status(), "cannot load the model"), 1);
    fake_model_file = *std::move(file);
  }
  std::unique_ptr<TpGroup> group;  // outlives the engine
  if (tp->forms_group()) {
    if (fake || (tp->tp > 1 && flags->Value("kvstore"))) {
      return Fail(absl::InvalidArgumentError("--tp > 1 works with neither --fake-model nor "
                                             "--kvstore (a fetched prefix would reach rank 0 only)"),
                  2);
    }
    absl::Status valid = CheckTpForModel(flags->Value("model").value_or(DefaultModelPath()), tp->tp);
    if (!valid.ok()) return Fail(valid, LoadErrorExitCode(valid) == 2 ? 2 : 1);
    // A follower ends on SIGTERM (its launcher's PDEATHSIG) like any process.
    if (tp->rank_or_zero() > 0) pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    absl::StatusOr<std::string> self = FindSiblingBinary("gqa-worker", "gqa_worker");
    if (!self.ok()) return Fail(self.status(), 1);
    absl::StatusOr<std::unique_ptr<TpGroup>> joined =
        TpGroup::Join(*tp, *self, std::vector<std::string>(argv + 1, argv + argc));
    if (!joined.ok()) return Fail(joined.status(), 1);
    group = *std::move(joined);
    if (tp->rank_or_zero() > 0) return RunFollowerRank(*flags, *group);
  }
  if (!fake) {
    absl::StatusOr<std::unique_ptr<LocalEngine>> loaded =
        LocalEngine::Load(*flags, group != nullptr ? &group->comm() : nullptr, std::move(gpu));
    if (!loaded.ok()) {
      const int code = LoadErrorExitCode(loaded.status());
      return Fail(code == 2 ? loaded.status() : Annotate(loaded.status(), "cannot load the model"),
                  code);
    }
    local = *std::move(loaded);
    if (group != nullptr) {
      absl::Status ready = CheckSameModel(group->comm(), local->model().fingerprint());
      if (!ready.ok()) return Fail(ready, 1);
    }
  }
  auto registry = std::make_shared<prometheus::Registry>();
  const double kv_bytes_per_token =
      fake ? 0.0
           : static_cast<double>(local->storage().bytes_per_block()) /
                 static_cast<double>(local->storage().block_size());
  WorkerMetrics metrics(*registry, kv_bytes_per_token);
  std::unique_ptr<prometheus::Exposer> exposer;
  const std::string listen = flags->Value("listen").value_or("0.0.0.0");
  if (metrics_port.has_value()) {
    try {  // prometheus-cpp reports a busy port by throwing
      exposer = std::make_unique<prometheus::Exposer>(absl::StrCat(listen, ":", *metrics_port));
    } catch (const std::exception& e) {
      return Fail(absl::UnavailableError(absl::StrCat("cannot serve metrics on port ",
                                                      *metrics_port, ": ", e.what())),
                  1);
    }
    exposer->RegisterCollectable(registry);
  }
  std::unique_ptr<KvStorePrefixTier> prefix_tier;  // outlive the engine
  std::unique_ptr<KvStoreSwapTier> swap_tier;
  std::atomic<bool> group_broken{false};  // outlives the engine, whose thread sets it
  std::unique_ptr<SequenceEngine> engine;
  WorkerInfo info;
  info.instance_id = absl::StrCat("worker-", getpid());
  if (fake) {
    fake_options.config = FakeModelConfig();
    fake_options.max_waiting = options.max_waiting;
    info.model_name = "fake";
    info.model_fingerprint = "fake";
    if (fake_model_file.has_value()) {
      fake_options.config = fake_model_file->config();
      info.model_name = fake_model_file->name;
      info.model_fingerprint = fake_model_file->fingerprint();
      info.tokenizer_fingerprint = fake_model_file->tokenizer->Fingerprint();
    }
    engine = std::make_unique<FakeEngine>(Env::Default(), fake_options);
  } else {
    KvCacheStorage& storage = local->storage();
    info.model_name = ModelNameFromPath(flags->Value("model").value_or(DefaultModelPath()));
    info.model_fingerprint = local->model().fingerprint();
    info.tokenizer_fingerprint = local->tokenizer().Fingerprint();
    info.kv_dtype = storage.dtype();
    info.block_size = storage.block_size();
    info.num_kv_blocks = storage.num_blocks();
    info.kv_capacity_bytes = storage.num_blocks() * storage.bytes_per_block();
    info.tp_size = local->model().plan().tp;
    if (local->tokenizer().eos_id() >= 0) info.eos_ids.push_back(local->tokenizer().eos_id());
    if (auto address = flags->Value("kvstore")) {
      KvStorePrefixTierOptions tier_options;
      tier_options.geometry = KvStoreBlockGeometry::Of(local->model(), storage);
      if (auto stored = flags->Value("kvstore-prefix-dtype")) {
        absl::StatusOr<DType> dtype = ParseDType(*stored);
        if (!dtype.ok() || !IsFp8(*dtype) || IsFp8(storage.dtype())) {
          return Fail(absl::InvalidArgumentError(absl::StrCat(
                          "--kvstore-prefix-dtype ", *stored,
                          ": expected fp8-e4m3 or fp8-e5m2, for an f32/f16/bf16 cache")),
                      2);
        }
        tier_options.stored_dtype = *dtype;
      }
      kvstore::KvStoreClientOptions client_options;
      client_options.bearer_token = flags->Value("kvstore-token").value_or("");
      client_options.timeout = absl::Seconds(10);
      std::shared_ptr<grpc::Channel> channel =
          kvstore::NewKvStoreChannel(*address, grpc::InsecureChannelCredentials());
      prefix_tier = std::make_unique<KvStorePrefixTier>(
          std::make_unique<kvstore::KvStoreClient>(channel, client_options), tier_options);
      if (!flags->Has("no-kvstore-swap")) {
        KvStoreSwapTierOptions swap_options;
        swap_options.geometry = tier_options.geometry;
        if (auto ttl = flags->Value("kvstore-swap-ttl-ms")) {
          absl::StatusOr<int64_t> parsed = ParsePositiveInt("--kvstore-swap-ttl-ms", *ttl);
          if (!parsed.ok()) return Fail(parsed.status(), 2);
          swap_options.swap_ttl_ms = *parsed;
        }
        swap_tier = std::make_unique<KvStoreSwapTier>(
            std::make_unique<kvstore::KvStoreClient>(channel, client_options), swap_options);
        options.swap_tier = swap_tier.get();
      }
    }
    auto loop = std::make_unique<EngineLoop>(&local->model(), &storage, Env::Default(), options,
                                             &metrics, prefix_tier.get(), cache_snapshot_interval);
    if (group != nullptr) {
      // A broken group cannot step again: leave so that whoever runs this
      // worker (gqa serve, Kubernetes) starts a whole new group.
      loop->SetOnGroupFailure([&group_broken](const absl::Status&) {
        group_broken.store(true);
        kill(getpid(), SIGTERM);
      });
    }
    engine = std::move(loop);
  }
  WorkerService service(engine.get(), info);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int chosen_port = 0;
  builder.AddListeningPort(absl::StrCat(listen, ":", port), grpc::InsecureServerCredentials(),
                           &chosen_port);
  builder.RegisterService(&service);
  ApplyServerKeepalive(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || chosen_port == 0) {
    return Fail(absl::UnavailableError(absl::StrCat("cannot listen on ", listen, ":", port)), 1);
  }
  std::unique_ptr<grpc::Server> health_server;
  if (health_port.has_value()) {
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
  std::cout << "gqa-worker listening on " << listen << ":" << chosen_port << " ("
            << (fake ? "fake model" : absl::StrCat(info.num_kv_blocks, " KV blocks of ",
                                                    info.block_size, " tokens, ",
                                                    DTypeName(info.kv_dtype)))
            << ")" << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  if (group_broken.load()) {
    std::cerr << "gqa-worker: the tensor-parallel group lost a rank; ending its streams and "
                 "exiting 1 so that the group can be restarted\n";
  } else {
    std::cerr << "gqa-worker: signal " << signal << ", draining\n";
  }
  server->GetHealthCheckService()->SetServingStatus(false);
  engine->Drain(absl::Seconds(30));
  // Drain already waited for the sequences; what is left (watch streams,
  // idle reactors) gets a second before it is cancelled.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (health_server) health_server->Shutdown();
  return group_broken.load() ? 1 : 0;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) { return gqa::Run(argc, argv); }
