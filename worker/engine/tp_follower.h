// RunFollower: the loop of a tensor-parallel rank other than 0. It receives
// each StepPlan rank 0's Model broadcasts and executes it on this rank's
// shard (forward passes, block copies), discarding the logits (rank 0
// samples). Used by gqa-worker --rank R > 0 and by tests. Blocks in the
// communicator between steps (no spinning). Runs on the calling thread.
#ifndef GQA_WORKER_ENGINE_TP_FOLLOWER_H_
#define GQA_WORKER_ENGINE_TP_FOLLOWER_H_

#include "absl/status/status.h"
#include "worker/engine/model.h"
#include "worker/kv/kv_cache_storage.h"
#include "worker/parallel/communicator.h"

namespace gqa {

// Returns OK when the leader ends the group (Model::EndGroup), the
// communicator's UNAVAILABLE / DEADLINE_EXCEEDED when the leader or a peer
// is gone or silent past the timeout, and INVALID_ARGUMENT / INTERNAL for a
// plan this rank cannot execute. REQUIRES: model.plan().rank > 0.
absl::Status RunFollower(Model& model, KvCacheStorage& storage, Communicator& comm);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TP_FOLLOWER_H_
