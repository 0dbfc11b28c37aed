// StepPlan: what tensor-parallel rank 0 (the leader) broadcasts for each
// step so the other ranks execute exactly what its scheduler decided
// (STYLE.md "Tensor parallelism"; vLLM's SchedulerOutput). A plan is a
// forward pass (the step's ForwardBatch), the copy-on-write block copies
// before one, a heartbeat while idle, or the end of the group.
//
// Followers hold no scheduler and no KV manager: a forward plan carries the
// block tables and slots rank 0's KV manager chose, valid on every rank
// because all ranks have the same block geometry. It carries them as deltas:
// the encoder (leader) and the decoder (each follower) keep the same mirror
// of every sequence recently stepped (its block-table row, policy values and
// slot maps, keyed by ForwardBatch::seq_ids), so a sequence is sent whole
// once and then as its handle and what changed. The wire format is in
// docs/tensor-parallel.md.
#ifndef GQA_WORKER_ENGINE_STEP_PLAN_H_
#define GQA_WORKER_ENGINE_STEP_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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
  // points into (moving the plan keeps them valid).
  std::vector<int32_t> slot_position_values;
};

// A sequence left out of this many forward steps in a row is forgotten by
// both ends (it is sent whole if it comes back): finished sequences leave
// the mirror without a message of their own.
inline constexpr int64_t kPlanMirrorSteps = 16;

namespace step_plan_internal {
// What both ends know of one sequence after the last step that held it.
struct MirroredSequence {
  std::vector<int32_t> block_row;  // its row of block_tables, padding included
  int32_t num_sinks = 0;
  int32_t recent_window = 0;
  // Per layer: head_stride of its slot map, -1 for no map. Empty when the
  // batch had no slot maps.
  std::vector<int64_t> map_strides;
  std::vector<std::vector<int32_t>> maps;  // per layer: the map's values
  uint64_t last_step = 0;
};
using Mirror = absl::flat_hash_map<int64_t, MirroredSequence>;
}  // namespace step_plan_internal

// The leader's end. Thread-compatible.
class StepPlanEncoder {
 public:
  // `num_kv_heads`: this rank's KV heads (the length of a per-head slot map).
  explicit StepPlanEncoder(int64_t num_kv_heads) : num_kv_heads_(num_kv_heads) {}

  // A forward plan for `batch`, as deltas against what the followers hold;
  // REQUIRES: batch passes Model's validation (distinct seq_ids).
  std::string EncodeForward(const ForwardBatch& batch, bool want_column_sums);
  // Copies, heartbeats and shutdowns (plan.kind != kForward).
  static std::string EncodeControl(const StepPlan& plan);

  int64_t mirrored_sequences() const { return static_cast<int64_t>(mirror_.size()); }

 private:
  int64_t num_kv_heads_;
  uint64_t num_steps_ = 0;
  step_plan_internal::Mirror mirror_;
};

// A follower's end: must see every message the leader's encoder wrote, in
// order. Thread-compatible.
class StepPlanDecoder {
 public:
  // `num_kv_heads` as the encoder's (the same on every rank).
  explicit StepPlanDecoder(int64_t num_kv_heads) : num_kv_heads_(num_kv_heads) {}

  // INVALID_ARGUMENT for a truncated or malformed message (unknown kind,
  // counts that disagree with the batch, a delta for a sequence this end does
  // not hold, a step out of order); the decoder is then unusable
  // (FAILED_PRECONDITION after), as its mirror may no longer be the leader's.
  absl::StatusOr<StepPlan> Decode(absl::string_view bytes);

  int64_t mirrored_sequences() const { return static_cast<int64_t>(mirror_.size()); }

 private:
  absl::StatusOr<StepPlan> DecodeUnchecked(absl::string_view bytes);

  int64_t num_kv_heads_;
  uint64_t num_steps_ = 0;
  bool broken_ = false;
  step_plan_internal::Mirror mirror_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_STEP_PLAN_H_
