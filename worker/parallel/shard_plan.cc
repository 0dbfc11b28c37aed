#include "worker/parallel/shard_plan.h"

#include "absl/strings/str_cat.h"

namespace gqa {

absl::StatusOr<ShardPlan> ShardPlan::Make(const ModelConfig& config, int tp, int rank,
                                          int64_t quant_block_elems, bool vocab_parallel) {
  if (tp < 1) return absl::InvalidArgumentError(absl::StrCat("--tp ", tp, " must be >= 1"));
  if (rank < 0 || rank >= tp) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " outside [0, ", tp, ")"));
  }
  const int64_t q = config.num_query_heads, kv = config.num_kv_heads;
  if (q % tp != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tp ", tp, " must divide the ", q, " query heads (each rank owns whole query heads)"));
  }
  if (kv % tp != 0 && tp % kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--tp ", tp, " and the ", kv,
                                                   " KV heads: one must divide the other"));
  }
  const int64_t block = std::max<int64_t>(quant_block_elems, 1);
  if (config.intermediate_size % (tp * block) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tp ", tp, " must divide the MLP intermediate size ", config.intermediate_size,
        " into whole ", block, "-element quantization blocks"));
  }
  if (vocab_parallel && config.vocab_size % tp != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--tp ", tp, " must divide the vocabulary of ",
                                                   config.vocab_size, " tokens"));
  }
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
