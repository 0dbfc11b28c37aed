#include "tools/gqa/serve_command.h"

#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/env.h"
#include "core/status.h"
#include "tools/gqa/child_process.h"
#include "tools/gqa/tp_group.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"

namespace gqa {
namespace {

constexpr FlagSpec kServeFlags[] = {{"model"},   {"workers"},  {"port"},     {"threads"},
                                    {"kv-bytes"}, {"kv-dtype"}, {"kv-policy"}, {"policy"},
                                    {"api-keys"}, {"fake-model", false}, {"http-port"},
                                    {"tp"}};

constexpr char kServeUsage[] = R"(usage: gqa serve [flags]

Starts a local gqaserve cluster on loopback: a kvstore (when gqa-kvstore is
built), N gqa-worker processes and a gqa-router in front of them, then waits.
Ctrl-C or SIGTERM stops them all. Connect with
  gqa generate --server ADDR "prompt"     gqa chat --server ADDR
  --model M        the model file; default: the default model
  --workers N      worker processes; default 2
  --port P         the router's port; default 50051 (0: pick a free one)
  --threads N      CPU threads per worker; default: cores / workers
  --kv-bytes B, --kv-dtype D, --kv-policy P   each worker's KV cache (gqa-worker)
  --policy P       the router's routing policy; default least-loaded
  --api-keys F     the router's API key file; default: none (open, local use)
  --http-port H    also serve the OpenAI-compatible HTTP API on 127.0.0.1:H
                   (0: pick a free one); default: off
  --fake-model     workers without a model (gqa-worker --fake-model), for tests
  --tp N           each worker is a tensor-parallel group of N rank processes
                   (gqa-worker --tp N; docs/tensor-parallel.md); no kvstore then
)";

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa serve: " << status.message() << "\n";
  return code;
}

}  // namespace

int RunServeCommand(int argc, char** argv) {
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc),
                                                         absl::MakeConstSpan(kServeFlags));
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kServeUsage;
    return 0;
  }
  int64_t workers = 2;
  if (auto v = flags->Value("workers")) {
    absl::StatusOr<int64_t> parsed = ParsePositiveInt("--workers", *v);
    if (!parsed.ok() || *parsed > 64) {
      return Fail(absl::InvalidArgumentError("--workers must be in [1, 64]"), 2);
    }
    workers = *parsed;
  }
  const std::string port = flags->Value("port").value_or("50051");
  const std::string model = flags->Value("model").value_or(DefaultModelPath());
  const bool fake = flags->Has("fake-model");
  if (!Env::Default()->FileExists(model) && !Env::Default()->FileExists(model + "/config.json")) {
    return Fail(absl::NotFoundError(absl::StrCat(
                    "no model at ", model, " (scripts/setup.sh fetches the default model)")),
                1);
  }
  absl::StatusOr<TpFlags> tp = ParseTpFlags(*flags);
  if (!tp.ok()) return Fail(tp.status(), 2);
  if (tp->tp > 1) {
    if (fake) return Fail(absl::InvalidArgumentError("--tp needs a model, not --fake-model"), 2);
    absl::Status valid = CheckTpForModel(model, tp->tp);
    if (!valid.ok()) return Fail(valid, 2);
  }
  absl::StatusOr<std::string> worker_binary = FindSiblingBinary("gqa-worker", "gqa_worker");
  absl::StatusOr<std::string> router_binary = FindSiblingBinary("gqa-router", "gqa_router");
  if (!worker_binary.ok()) return Fail(worker_binary.status(), 1);
  if (!router_binary.ok()) return Fail(router_binary.status(), 1);
  // A TP group's fetched prefix blocks would reach rank 0 only: no kvstore.
  absl::StatusOr<std::string> kvstore_binary =
      tp->tp > 1 ? absl::NotFoundError("tp") : FindSiblingBinary("gqa-kvstore", "gqa_kvstore");

  // Signals are taken by sigwait below; blocked before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const int64_t cores = std::max<int64_t>(1, sysconf(_SC_NPROCESSORS_ONLN));
  const std::string threads =
      flags->Value("threads").value_or(std::to_string(std::max<int64_t>(1, cores / (workers * tp->tp))));
  constexpr absl::Duration kStartTimeout = absl::Seconds(120);

  std::unique_ptr<ChildProcess> kvstore;
  std::string kvstore_address;
  if (kvstore_binary.ok()) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(
        {*kvstore_binary, "--port", "0", "--listen", "127.0.0.1", "--memory-bytes", "1GiB"});
    if (!started.ok()) return Fail(started.status(), 1);
    kvstore = *std::move(started);
    absl::StatusOr<std::string> address = kvstore->WaitForListenAddress(kStartTimeout);
    if (!address.ok()) return Fail(address.status(), 1);
    kvstore_address = *address;
  }
  std::vector<std::unique_ptr<ChildProcess>> worker_processes;
  for (int64_t i = 0; i < workers; ++i) {
    std::vector<std::string> args = {*worker_binary, "--model", model, "--port", "0",
                                     "--listen", "127.0.0.1", "--threads", threads};
    for (const char* flag : {"kv-bytes", "kv-dtype", "kv-policy"}) {
      if (auto v = flags->Value(flag)) {
        args.push_back(absl::StrCat("--", flag));
        args.push_back(*v);
      }
    }
    if (tp->tp > 1) {
      args.push_back("--tp");
      args.push_back(absl::StrCat(tp->tp));
    }
    if (fake) {
      args.push_back("--fake-model");
    } else if (!kvstore_address.empty()) {
      args.push_back("--kvstore");  // workers share prefix blocks through it
      args.push_back(kvstore_address);
    }
    absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(args);
    if (!started.ok()) return Fail(started.status(), 1);
    worker_processes.push_back(*std::move(started));
  }
  std::vector<std::string> worker_addresses;
  for (auto& worker : worker_processes) {
    absl::StatusOr<std::string> address = worker->WaitForListenAddress(kStartTimeout);
    if (!address.ok()) return Fail(address.status(), 1);
    worker_addresses.push_back(*address);
  }
  std::vector<std::string> router_args = {*router_binary, "--model", model, "--port", port,
                                          "--listen", "127.0.0.1", "--workers",
                                          absl::StrJoin(worker_addresses, ",")};
  for (const char* flag : {"policy", "api-keys", "http-port"}) {
    if (auto v = flags->Value(flag)) {
      router_args.push_back(absl::StrCat("--", flag));
      router_args.push_back(*v);
    }
  }
  absl::StatusOr<std::unique_ptr<ChildProcess>> router = ChildProcess::Start(router_args);
  if (!router.ok()) return Fail(router.status(), 1);
  absl::StatusOr<std::string> router_address = (*router)->WaitForListenAddress(kStartTimeout);
  if (!router_address.ok()) return Fail(router_address.status(), 1);

  absl::StatusOr<std::string> http_address = HttpAddressFromLine((*router)->ready_line());
  std::cout << "gqaserve is up: router " << *router_address << ", " << workers << " worker(s) "
            << absl::StrJoin(worker_addresses, " ")
            << (kvstore ? absl::StrCat(", kvstore ", kvstore_address) : ", no kvstore (not built)")
            << (http_address.ok() ? absl::StrCat(", http ", *http_address) : "")
            << "\n  try: gqa generate --server " << *router_address
            << " \"What is grouped-query attention?\"";
  if (http_address.ok()) {
    std::cout << "\n  or:  curl http://" << *http_address
              << "/v1/chat/completions -d '{\"messages\": [{\"role\": \"user\", "
                 "\"content\": \"Hi\"}]}'";
  }
  std::cout << "\nCtrl-C stops the cluster." << std::endl;

  int exit_code = 0;
  while (true) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGCHLD) {
      std::cerr << "gqa serve: stopping the cluster\n";
      break;
    }
    if ((*router)->Exited()) {
      std::cerr << "gqa serve: the router exited; stopping the cluster\n";
      exit_code = 1;
      break;
    }
    for (auto& worker : worker_processes) {
      if (worker->Exited()) {
        std::cerr << "gqa serve: worker " << worker->pid()
                  << " exited; the router fails its sequences over to the others\n";
      }
    }
    if (kvstore && kvstore->Exited()) std::cerr << "gqa serve: the kvstore exited\n";
  }
  (*router)->Stop(absl::Seconds(35));
  for (auto& worker : worker_processes) worker->Stop(absl::Seconds(35));
  if (kvstore) kvstore->Stop(absl::Seconds(10));
  return exit_code;
}

}  // namespace gqa
