// StepPlan: what tensor-parallel rank 0 (the leader) broadcasts for each
// step so the other ranks execute exactly what its scheduler decided
// (STYLE.md "Tensor parallelism"; vLLM's SchedulerOutput). A plan is a
// forward pass (the step's ForwardBatch), the copy-on-write block copies
// before one, a heartbeat while idle, or the end of the group. Followers hold
// no scheduler and no KV manager: the batch carries the block tables and
// slots rank 0's KV manager chose, valid on every rank because all ranks have
// the same block geometry. Plain value type; the wire format is in
// docs/tensor-parallel.md.
#ifndef GQA_WORKER_ENGINE_STEP_PLAN_H_
#define GQA_WORKER_ENGINE_STEP_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/engine/forward_batch.h"
#include "worker/kv/kv_cache_manager.h"

namespace gqa {

enum class StepKind : uint8_t {
  kForward = 1,     // run `batch`
  kCopyBlocks = 2,  // copy `copies` in every layer
  kHeartbeat = 3,   // the leader is alive and idle
  kShutdown = 4,    // the group ends; followers return
};

struct StepPlan {
  StepKind kind = StepKind::kHeartbeat;
  ForwardBatch batch;               // kForward
  bool want_column_sums = false;    // kForward: the leader asked for h2o sums
  std::vector<KvBlockCopy> copies;  // kCopyBlocks
  // kForward under a bounded policy: the slot maps batch.slot_positions
  // points into after ParseStepPlan (the leader's point into its sequences).
  std::vector<int32_t> slot_position_values;
};

// Serializes `plan`; a bounded-policy batch's slot maps are copied out of
// the memory batch.slot_positions points to (`num_kv_heads` per rank
// bounds a per-head map).
std::string SerializeStepPlan(const StepPlan& plan, int64_t num_kv_heads);

// INVALID_ARGUMENT for a truncated or malformed message (unknown kind,
// counts that disagree with the batch).
absl::StatusOr<StepPlan> ParseStepPlan(absl::string_view bytes);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_STEP_PLAN_H_
