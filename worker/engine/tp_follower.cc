#include "worker/engine/tp_follower.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "worker/engine/step_plan.h"

namespace gqa {

absl::Status RunFollower(Model& model, KvCacheStorage& storage, Communicator& comm) {
  CHECK_GT(model.plan().rank, 0);
  std::string bytes;
  std::vector<float> logits, column_sums;
  StepPlanDecoder decoder(model.policy_kv_heads());
  int64_t num_steps = 0;
  while (true) {
    absl::Status received = BroadcastBytes(comm, bytes, /*root=*/0);
    if (!received.ok()) {
      LOG(WARNING) << "tp follower rank=" << comm.rank() << " lost the leader after "
                   << num_steps << " steps: " << received;
      return received;
    }
    ASSIGN_OR_RETURN(StepPlan plan, decoder.Decode(bytes));
    switch (plan.kind) {
      case StepKind::kHeartbeat:
        break;
      case StepKind::kShutdown:
        LOG(INFO) << "tp follower rank=" << comm.rank() << " ends steps=" << num_steps;
        return absl::OkStatus();
      case StepKind::kCopyBlocks:
        RETURN_IF_ERROR(model.CopyKvBlocks(storage.layer_views(), plan.copies));
        break;
      case StepKind::kForward: {
        // A failed step here would leave the leader waiting in an all-reduce;
        // it sees the failure when this rank's sockets close.
        absl::Status status = model.Forward(plan.batch, storage.layer_views(), logits,
                                            plan.want_column_sums ? &column_sums : nullptr);
        if (!status.ok()) {
          return absl::Status(status.code(), absl::StrCat("tp follower rank ", comm.rank(),
                                                          " step ", num_steps, ": ",
                                                          status.message()));
        }
        ++num_steps;
        break;
      }
    }
  }
}

}  // namespace gqa
