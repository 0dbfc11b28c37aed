// ShardPlan: which heads and which slices of each weight one tensor-parallel
// rank owns (DESIGN.md "Tensor parallelism with GQA"). Rank r owns KV heads
// [r*kv/tp, (r+1)*kv/tp) and exactly the query heads of their groups; when
// tp > kv_heads each KV head is replicated on tp/kv_heads ranks, each owning
// its share of that group's query heads. tp = 1 is the ordinary case.
// Plain value type; Make() validates every divisibility rule before loading.
#ifndef GQA_WORKER_PARALLEL_SHARD_PLAN_H_
#define GQA_WORKER_PARALLEL_SHARD_PLAN_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "core/model_config.h"

namespace gqa {

struct ShardPlan {
  int rank = 0;
  int tp = 1;
  int64_t q_head_begin = 0;    // first query head owned
  int64_t num_q_heads = 0;     // query heads owned
  int64_t kv_head_begin = 0;   // first KV head owned
  int64_t num_kv_heads = 0;    // KV heads owned (1 when replicated)
  int64_t ffn_begin = 0;       // first MLP intermediate feature owned
  int64_t ffn_size = 0;        // MLP intermediate features owned
  int64_t kv_replication = 1;  // ranks holding each owned KV head

  // INVALID_ARGUMENT naming the rule when the tensor-parallel rules of
  // ValidateTensorParallel (core/kv_size.h, the same rules the planner
  // applies) refuse tp, and for rank outside [0, tp).
  static absl::StatusOr<ShardPlan> Make(const ModelConfig& config, int tp, int rank);
};

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_SHARD_PLAN_H_
