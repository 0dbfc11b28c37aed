#include "core/kv_size.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace gqa {
namespace {

// The product of non-negative `factors`, or INVALID_ARGUMENT naming `what`
// when a factor is negative or the product leaves int64.
absl::StatusOr<int64_t> CheckedProduct(absl::string_view what,
                                       std::initializer_list<int64_t> factors) {
  int64_t product = 1;
  for (int64_t factor : factors) {
    if (factor < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": negative factor in ", absl::StrJoin(factors, " x ")));
    }
    if (__builtin_mul_overflow(product, factor, &product)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " overflows 64 bits: ", absl::StrJoin(factors, " x "), "; use smaller sizes"));
    }
  }
  return product;
}

absl::StatusOr<int64_t> CheckedSum(absl::string_view what, int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " overflows 64 bits: ", a, " + ", b));
  }
  return sum;
}

absl::Status RequirePositive(absl::string_view field, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("model shape: ", field, "=", value, " must be positive"));
}

absl::Status ValidateKvShape(const ModelConfig& model) {
  RETURN_IF_ERROR(RequirePositive("num_layers", model.num_layers));
  RETURN_IF_ERROR(RequirePositive("num_query_heads", model.num_query_heads));
  RETURN_IF_ERROR(RequirePositive("num_kv_heads", model.num_kv_heads));
  RETURN_IF_ERROR(RequirePositive("head_dim", model.head_dim));
  if (model.num_kv_heads > model.num_query_heads ||
      model.num_query_heads % model.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model shape: num_kv_heads=", model.num_kv_heads, " must divide num_query_heads=",
        model.num_query_heads, " (MHA: equal, GQA: a divisor, MQA: 1)"));
  }
  return absl::OkStatus();
}

absl::Status TpError(int64_t tp, absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("--tp ", tp, ": ", rule, "; see docs/kv-size.md, \"Tensor parallelism\""));
}

}  // namespace

absl::StatusOr<int64_t> KvFormulaBytes(int64_t num_layers, int64_t num_kv_heads, int64_t tokens,
                                       int64_t head_dim, int64_t bytes_per_element) {
  return CheckedProduct("KV bytes (layers x kv_heads x 2 x tokens x head_dim x bytes)",
                        {num_layers, num_kv_heads, 2, tokens, head_dim, bytes_per_element});
}

absl::StatusOr<int64_t> KvScaleBytes(int64_t num_layers, int64_t num_kv_heads, int64_t tokens,
                                     DType dtype) {
  if (!IsFp8(dtype) && num_layers >= 0 && num_kv_heads >= 0 && tokens >= 0) return 0;
  return CheckedProduct("FP8 scale bytes (layers x kv_heads x 2 x tokens x 4)",
                        {num_layers, num_kv_heads, 2, tokens, kFp8ScaleBytes});
}

absl::StatusOr<int64_t> PaddedTokens(int64_t tokens, int64_t block_size) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("tokens=", tokens, " must not be negative"));
  }
  if (block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--block-size ", block_size, ": must be a positive number of tokens"));
  }
  const int64_t blocks = tokens / block_size + (tokens % block_size != 0 ? 1 : 0);
  return CheckedProduct("padded tokens (blocks x block_size)", {blocks, block_size});
}

int64_t NumKvShards(int64_t num_kv_heads, int64_t tp) { return std::min(tp, num_kv_heads); }

absl::Status ValidateTensorParallel(const ModelConfig& model, int64_t tp) {
  if (tp <= 0) return TpError(tp, "must be a positive number of ranks");
  if (model.num_query_heads <= 0 || model.num_query_heads % tp != 0) {
    return TpError(
        tp, absl::StrCat("tp must divide the number of query heads (", model.num_query_heads, ")"));
  }
  if (model.num_kv_heads <= 0 || (model.num_kv_heads % tp != 0 && tp % model.num_kv_heads != 0)) {
    return TpError(tp, absl::StrCat("tp must divide the number of KV heads (", model.num_kv_heads,
                                    ") or be a multiple of it"));
  }
  // tp 1 splits nothing, whatever the MLP width.
  if (tp > 1 && model.intermediate_size > 0 &&
      (model.intermediate_size % kWeightQuantBlockElements != 0 ||
       (model.intermediate_size / kWeightQuantBlockElements) % tp != 0)) {
    return TpError(
        tp, absl::StrCat("tp must divide the MLP intermediate size (", model.intermediate_size,
                         ") in whole ", kWeightQuantBlockElements, "-element quantization blocks"));
  }
  if (model.vocab_size > 0 && model.vocab_size % tp != 0) {
    return TpError(tp, absl::StrCat("tp must divide the vocabulary (", model.vocab_size,
                                    ") for the vocab-parallel output head"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SlotsPerSequence(const KvPolicy& policy, int64_t context_tokens,
                                         int64_t block_size) {
  const std::optional<int64_t> bound = policy.TokenBound();
  if (!bound.has_value() || context_tokens <= *bound) return PaddedTokens(context_tokens, block_size);
  ASSIGN_OR_RETURN(int64_t with_chunk, CheckedSum("KV slots", *bound, block_size - 1));
  return PaddedTokens(with_chunk, block_size);
}

absl::StatusOr<KvPlan> PlanKv(const ModelConfig& model, const KvPlanOptions& options) {
  RETURN_IF_ERROR(ValidateKvShape(model));
  if (options.context_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ctx ", options.context_tokens, ": must be a positive number of tokens"));
  }
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--block-size ", options.block_size, ": must be a positive number of tokens"));
  }
  RETURN_IF_ERROR(ValidateTensorParallel(model, options.tp));

  KvPlan plan;
  plan.num_layers = model.num_layers;
  plan.num_kv_heads = model.num_kv_heads;
  plan.head_dim = model.head_dim;
  plan.bytes_per_element = DTypeSize(options.dtype);
  plan.context_tokens = options.context_tokens;
  plan.tokens_held = options.policy.TokensHeld(options.context_tokens);
  plan.block_size = options.block_size;
  ASSIGN_OR_RETURN(plan.slots_per_sequence,
                   SlotsPerSequence(options.policy, options.context_tokens, plan.block_size));
  plan.blocks_per_sequence = plan.slots_per_sequence / plan.block_size;
  plan.tp = options.tp;
  plan.num_kv_shards = NumKvShards(model.num_kv_heads, options.tp);
  plan.kv_heads_per_rank = model.num_kv_heads / plan.num_kv_shards;
  plan.kv_replicas = options.tp / plan.num_kv_shards;

  ASSIGN_OR_RETURN(plan.kv_bytes_per_token, KvFormulaBytes(plan.num_layers, plan.num_kv_heads, 1,
                                                           plan.head_dim, plan.bytes_per_element));
  ASSIGN_OR_RETURN(plan.kv_scale_bytes_per_token,
                   KvScaleBytes(plan.num_layers, plan.num_kv_heads, 1, options.dtype));
  ASSIGN_OR_RETURN(plan.kv_bytes_per_sequence_formula,
                   KvFormulaBytes(plan.num_layers, plan.num_kv_heads, plan.tokens_held,
                                  plan.head_dim, plan.bytes_per_element));
  ASSIGN_OR_RETURN(
      int64_t allocated_per_token,
      CheckedSum("KV bytes per token", plan.kv_bytes_per_token, plan.kv_scale_bytes_per_token));
  ASSIGN_OR_RETURN(plan.kv_bytes_per_block,
                   CheckedProduct("KV bytes per block", {allocated_per_token, plan.block_size}));
  ASSIGN_OR_RETURN(
      plan.kv_bytes_per_sequence,
      CheckedProduct("KV bytes per sequence", {allocated_per_token, plan.slots_per_sequence}));

  // Per rank from the rank's own heads, so the figure is exact: the total
  // divided by min(tp, kv_heads).
  ASSIGN_OR_RETURN(int64_t rank_token_bytes,
                   KvFormulaBytes(plan.num_layers, plan.kv_heads_per_rank, 1, plan.head_dim,
                                  plan.bytes_per_element));
  ASSIGN_OR_RETURN(int64_t rank_scale_bytes,
                   KvScaleBytes(plan.num_layers, plan.kv_heads_per_rank, 1, options.dtype));
  plan.kv_bytes_per_block_per_rank = (rank_token_bytes + rank_scale_bytes) * plan.block_size;
  plan.kv_bytes_per_sequence_per_rank =
      (rank_token_bytes + rank_scale_bytes) * plan.slots_per_sequence;
  return plan;
}

int64_t MaxSequences(const KvPlan& plan, int64_t mem_bytes) {
  if (mem_bytes <= 0 || plan.kv_bytes_per_sequence_per_rank <= 0) return 0;
  return mem_bytes / plan.kv_bytes_per_sequence_per_rank;
}

}  // namespace gqa
