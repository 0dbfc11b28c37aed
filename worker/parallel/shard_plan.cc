#include "worker/parallel/shard_plan.h"

#include "absl/strings/str_cat.h"
#include "core/kv_size.h"
#include "core/status.h"

namespace gqa {

absl::StatusOr<ShardPlan> ShardPlan::Make(const ModelConfig& config, int tp, int rank) {
  RETURN_IF_ERROR(ValidateTensorParallel(config, tp));
  if (rank < 0 || rank >= tp) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " outside [0, ", tp, ")"));
  }
  const int64_t q = config.num_query_heads, kv = config.num_kv_heads;
  ShardPlan plan;
  plan.rank = rank;
  plan.tp = tp;
  plan.num_q_heads = q / tp;
  plan.q_head_begin = rank * plan.num_q_heads;
  if (tp <= kv) {
    plan.num_kv_heads = kv / tp;
    plan.kv_head_begin = rank * plan.num_kv_heads;
  } else {
    plan.kv_replication = tp / kv;
    plan.num_kv_heads = 1;
    plan.kv_head_begin = rank / plan.kv_replication;
  }
  plan.ffn_size = config.intermediate_size / tp;
  plan.ffn_begin = rank * plan.ffn_size;
  return plan;
}

}  // namespace gqa
