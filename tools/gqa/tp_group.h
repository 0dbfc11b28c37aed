// The tensor-parallel side of gqa-worker and gqa generate (docs/tensor-parallel.md):
// the --tp/--rank/--tp-addr/--tp-timeout-ms flags, and joining the group.
// With --tp N and no --rank this process is the launcher: it hosts the
// rendezvous store, starts ranks 1..N-1 as gqa-worker child processes (own
// process group, SIGTERM when the launcher dies) and joins as rank 0; with
// --rank R it joins a group whose rank 0 listens on --tp-addr, possibly on
// another host. Thread-compatible.
#ifndef GQA_TOOLS_GQA_TP_GROUP_H_
#define GQA_TOOLS_GQA_TP_GROUP_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/gqa/child_process.h"
#include "tools/gqa/command_line.h"
#include "worker/parallel/communicator.h"

namespace gqa {

class TpGroup;

inline constexpr FlagSpec kTpFlags[] = {
    {"tp"}, {"rank"}, {"tp-addr"}, {"tp-timeout-ms"}, {"tp-comm"}};

// Which Communicator a group runs: Gloo over TCP (CPU memory), or NCCL (one
// CUDA device per rank, rank R on device R; builds with CUDA only).
enum class TpComm { kGloo, kNccl };

struct TpFlags {
  int tp = 1;
  std::optional<int> rank;       // absent: tp 1, or the launcher (rank 0)
  std::optional<std::string> address;  // HOST:PORT of rank 0's store
  int64_t timeout_ms = 10000;    // rendezvous and every collective
  TpComm comm = TpComm::kGloo;
  // tp > 1, or an NCCL group of one (--tp 1 --tp-comm nccl: the engine's
  // collectives then run through NCCL on this process's GPU).
  bool forms_group() const { return tp > 1 || comm == TpComm::kNccl; }
  bool launcher() const { return forms_group() && !rank.has_value(); }
  int rank_or_zero() const { return rank.value_or(0); }
};

// INVALID_ARGUMENT naming the flag: tp < 1, a rank outside [0, tp), --rank
// without --tp-addr, a bad address or timeout, a --tp-comm other than gloo
// or nccl, nccl in a build without it.
absl::StatusOr<TpFlags> ParseTpFlags(const CommandLine& flags);

// INVALID_ARGUMENT naming the rule when the model at `model_path` cannot be
// split over `tp` ranks (read from its header; no weight is loaded).
absl::Status CheckTpForModel(const std::string& model_path, int tp);

// Every rank calls it once its shard is loaded (so it is also the barrier
// before the first step): FAILED_PRECONDITION naming the ranks whose model
// fingerprint differs from rank 0's; the communicator's errors.
absl::Status CheckSameModel(Communicator& comm, const std::string& fingerprint);

// The whole life of a rank > 0: load this rank's shard, then execute rank
// 0's step plans until it ends the group. Returns the exit status (0: rank 0
// ended the group; 1: the group failed, logged).
int RunFollowerRank(const CommandLine& flags, TpGroup& group);

class TpGroup {
 public:
  // For a command that runs the model in this process (gqa generate): checks
  // --tp against the model, then starts ranks 1..tp-1 as gqa-worker
  // processes with this command's model, --threads, --backend, --tp-comm and
  // KV flags, and joins as rank 0. The errors of CheckTpForModel and Join.
  static absl::StatusOr<std::unique_ptr<TpGroup>> LaunchForLocalEngine(const CommandLine& flags,
                                                                       const TpFlags& tp);
  // The launcher runs `child_binary` (a gqa-worker) with `child_args` plus
  // --rank R --tp-addr A for each rank R > 0; others ignore both. Errors: the
  // store cannot listen (UNAVAILABLE), a child cannot start (INTERNAL), a
  // rank does not arrive within the timeout (DEADLINE_EXCEEDED); with NCCL,
  // UNAVAILABLE when this rank has no CUDA device.
  static absl::StatusOr<std::unique_ptr<TpGroup>> Join(const TpFlags& flags,
                                                       const std::string& child_binary,
                                                       const std::vector<std::string>& child_args);
  // Closes the group, waits up to 5 s for the children to exit by
  // themselves, then stops the rest (SIGTERM, SIGKILL after 5 s).
  ~TpGroup();

  Communicator& comm() { return *comm_; }
  std::vector<pid_t> child_pids() const;

 private:
  TpGroup() = default;
  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::unique_ptr<Communicator> comm_;
};

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_TP_GROUP_H_
