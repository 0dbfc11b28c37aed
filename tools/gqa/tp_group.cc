#include "tools/gqa/tp_group.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/log.h"
#include "core/kv_size.h"
#include "core/status.h"
#include "tools/gqa/local_engine.h"
#include "worker/engine/model_file.h"
#include "worker/engine/tp_follower.h"
#include "worker/parallel/gloo/gloo_communicator.h"
#include "worker/parallel/gloo/tcp_store.h"
#ifdef GQA_HAVE_NCCL
#include "worker/parallel/nccl/nccl_communicator.h"
#endif

namespace gqa {

absl::StatusOr<TpFlags> ParseTpFlags(const CommandLine& flags) {
  TpFlags tp;
  if (auto value = flags.Value("tp")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--tp", *value));
    if (n > 64) return absl::InvalidArgumentError("--tp must be at most 64");
    tp.tp = static_cast<int>(n);
  }
  if (auto value = flags.Value("rank")) {
    int64_t rank = 0;
    if (*value != "0") {
      ASSIGN_OR_RETURN(rank, ParsePositiveInt("--rank", *value));
    }
    if (rank >= tp.tp) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rank ", rank, " must be below --tp ", tp.tp));
    }
    tp.rank = static_cast<int>(rank);
    if (!flags.Value("tp-addr")) {
      return absl::InvalidArgumentError("--rank needs --tp-addr HOST:PORT (rank 0's address)");
    }
  }
  if (auto value = flags.Value("tp-addr")) {
    RETURN_IF_ERROR(ParseHostPort(*value).status());
    tp.address = *value;
  }
  if (auto value = flags.Value("tp-timeout-ms")) {
    ASSIGN_OR_RETURN(tp.timeout_ms, ParsePositiveInt("--tp-timeout-ms", *value));
  }
  if (auto value = flags.Value("tp-comm")) {
    if (*value == "nccl") {
#ifndef GQA_HAVE_NCCL
      return absl::InvalidArgumentError(
          "--tp-comm nccl: this build has no NCCL (configure with nvcc and NCCL); use gloo");
#endif
      tp.comm = TpComm::kNccl;
    } else if (*value != "gloo") {
      return absl::InvalidArgumentError(
          absl::StrCat("--tp-comm ", *value, ": expected gloo or nccl"));
    }
  }
  return tp;
}

absl::Status CheckTpForModel(const std::string& model_path, int tp) {
  ASSIGN_OR_RETURN(ModelFile file, OpenModelFile(Env::Default(), model_path));
  absl::Status valid = ValidateTensorParallel(file.config(), tp);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--tp ", tp, " for ", model_path, ": ",
                                                   valid.message()));
  }
  return absl::OkStatus();
}

absl::Status CheckSameModel(Communicator& comm, const std::string& fingerprint) {
  constexpr size_t kBytes = 64;  // a SHA-256 in hex
  std::string mine = fingerprint.substr(0, kBytes);
  mine.resize(kBytes, ' ');
  std::vector<uint8_t> all(kBytes * comm.size());
  RETURN_IF_ERROR(comm.AllGather(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(mine.data()), kBytes),
      absl::MakeSpan(all)));
  std::vector<int> differ;
  for (int r = 1; r < comm.size(); ++r) {
    if (!std::equal(all.begin(), all.begin() + kBytes, all.begin() + r * kBytes)) {
      differ.push_back(r);
    }
  }
  if (!differ.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tp ranks ", absl::StrJoin(differ, ","), " loaded another model than rank 0 (fingerprint ",
        std::string(all.begin(), all.begin() + kBytes), "); give every rank the same --model"));
  }
  return absl::OkStatus();
}

int RunFollowerRank(const CommandLine& flags, TpGroup& group) {
  Communicator& comm = group.comm();
  absl::StatusOr<std::unique_ptr<LocalEngine>> local = LocalEngine::Load(flags, &comm);
  if (!local.ok()) {
    LOG(ERROR) << "tp rank=" << comm.rank() << " cannot load the model: " << local.status();
    return 1;
  }
  absl::Status ready = CheckSameModel(comm, (*local)->model().fingerprint());
  if (ready.ok()) ready = RunFollower((*local)->model(), (*local)->storage(), comm);
  if (!ready.ok()) {
    LOG(ERROR) << "tp rank=" << comm.rank() << " ends: " << ready;
    return 1;
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<TpGroup>> TpGroup::Join(const TpFlags& flags,
                                                       const std::string& child_binary,
                                                       const std::vector<std::string>& child_args) {
  auto group = std::unique_ptr<TpGroup>(new TpGroup());
  GlooOptions options;  // its rank, size, store and timeout serve NCCL too
  options.rank = flags.rank_or_zero();
  options.size = flags.tp;
  options.timeout = std::chrono::milliseconds(flags.timeout_ms);
  std::unique_ptr<TcpStoreServer> server;
  if (flags.launcher()) {
    ASSIGN_OR_RETURN(server, TcpStoreServer::Start(flags.address.value_or("127.0.0.1:0")));
    const std::string host =
        flags.address.has_value() ? ParseHostPort(*flags.address)->first : "127.0.0.1";
    options.store_address = absl::StrCat(host, ":", server->port());
    options.host_store = false;
    for (int rank = 1; rank < flags.tp; ++rank) {
      std::vector<std::string> argv = {child_binary};
      argv.insert(argv.end(), child_args.begin(), child_args.end());
      argv.insert(argv.end(), {"--rank", absl::StrCat(rank), "--tp-addr", options.store_address});
      ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> child, ChildProcess::Start(argv));
      // Parsed by tests and operators: which process is which rank.
      LOG(INFO) << "tp launcher started rank=" << rank << " pid=" << child->pid();
      group->children_.push_back(std::move(child));
    }
  } else {
    options.store_address = flags.address.value_or("127.0.0.1:29400");
    options.host_store = options.rank == 0;
  }
  if (flags.comm == TpComm::kNccl) {
#ifdef GQA_HAVE_NCCL
    NcclOptions nccl;
    nccl.rank = options.rank;
    nccl.size = options.size;
    nccl.device = options.rank;
    nccl.store_address = options.store_address;
    nccl.host_store = options.host_store;
    nccl.timeout = options.timeout;
    ASSIGN_OR_RETURN(group->comm_, NcclCommunicator::Create(nccl));
#endif
  } else {
    ASSIGN_OR_RETURN(group->comm_, GlooCommunicator::Create(options));
  }
  if (group->comm_ == nullptr) return absl::InternalError("tp: no communicator was made");
  return group;
}

absl::StatusOr<std::unique_ptr<TpGroup>> TpGroup::LaunchForLocalEngine(const CommandLine& flags,
                                                                        const TpFlags& tp) {
  const std::string model = flags.Value("model").value_or(DefaultModelPath());
  RETURN_IF_ERROR(CheckTpForModel(model, tp.tp));
  ASSIGN_OR_RETURN(std::string worker, FindSiblingBinary("gqa-worker", "gqa_worker"));
  std::vector<std::string> args = {"--model", model, "--port", "0", "--tp", absl::StrCat(tp.tp)};
  for (const char* flag :
       {"threads", "kv-bytes", "kv-dtype", "kv-policy", "backend", "tp-comm", "tp-timeout-ms"}) {
    if (auto value = flags.Value(flag)) {
      args.push_back(absl::StrCat("--", flag));
      args.push_back(*value);
    }
  }
  TpFlags launcher = tp;
  launcher.rank.reset();
  launcher.address.reset();
  return Join(launcher, worker, args);
}

TpGroup::~TpGroup() {
  comm_.reset();  // closes the sockets: followers see the leader gone
  // Followers end by themselves (the leader's EndGroup, or its sockets
  // closing: their next read fails at once), usually within milliseconds;
  // SIGTERM only after a grace long enough for a loaded machine, so that they
  // log their end (2 s was not always enough on 2 busy cores).
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (auto& child : children_) {
    while (!child->Exited() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  }
  for (auto& child : children_) child->Stop(absl::Seconds(5));
}

std::vector<pid_t> TpGroup::child_pids() const {
  std::vector<pid_t> pids;
  for (const auto& child : children_) pids.push_back(child->pid());
  return pids;
}

}  // namespace gqa
