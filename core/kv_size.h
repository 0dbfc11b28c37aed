// KV size arithmetic: the one implementation of DESIGN.md's formula
//   KV bytes = layers x kv_heads x 2 (K and V) x tokens x head_dim x bytes_per_element
// plus the documented overhead (FP8 scales, block padding), the policy bound
// and the tensor-parallel split. Used by `gqa kv-size`, the scheduler's
// admission bound and the worker's pool sizing. Pure functions over values;
// thread-safe. Every product is overflow-checked. See docs/kv-size.md.
#ifndef GQA_CORE_KV_SIZE_H_
#define GQA_CORE_KV_SIZE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/kv_options.h"
#include "core/model_config.h"

namespace gqa {

// Tokens per block of the paged KV cache.
inline constexpr int64_t kDefaultKvBlockSize = 16;
// Bytes of one FP8 scale: an f32 per token, per KV head, for K and for V.
inline constexpr int64_t kFp8ScaleBytes = 4;
// Elements per quantization block of GGUF Q8_0/Q4_0/Q4_1 weights: the unit in
// which tensor parallelism splits the MLP intermediate dimension.
inline constexpr int64_t kWeightQuantBlockElements = 32;

// The exact formula: layers x kv_heads x 2 x tokens x head_dim x
// bytes_per_element. INVALID_ARGUMENT when an input is negative or the product
// overflows int64.
absl::StatusOr<int64_t> KvFormulaBytes(int64_t num_layers, int64_t num_kv_heads, int64_t tokens,
                                       int64_t head_dim, int64_t bytes_per_element);

// FP8 scale bytes: layers x kv_heads x 2 x tokens x 4 for fp8-e4m3/fp8-e5m2,
// 0 for other dtypes. INVALID_ARGUMENT on negative input or overflow.
absl::StatusOr<int64_t> KvScaleBytes(int64_t num_layers, int64_t num_kv_heads, int64_t tokens,
                                     DType dtype);

// Token slots the paged cache allocates for `tokens`: whole blocks,
// ceil(tokens / block_size) * block_size (17 tokens -> 32 slots at 16).
// INVALID_ARGUMENT when tokens < 0, block_size <= 0 or on overflow.
absl::StatusOr<int64_t> PaddedTokens(int64_t tokens, int64_t block_size);

// Token slots one sequence of `context_tokens` occupies at most under
// `policy`: PaddedTokens(context_tokens) when it never evicts (full, or a
// context within the bound); otherwise the bound plus the one step of at most
// block_size new tokens written before the step's eviction, padded:
// PaddedTokens(bound + block_size - 1) (streaming:4+252 -> 272 slots at 16).
// INVALID_ARGUMENT as PaddedTokens.
absl::StatusOr<int64_t> SlotsPerSequence(const KvPolicy& policy, int64_t context_tokens,
                                         int64_t block_size);

// Ranks among which the KV heads are split: min(tp, num_kv_heads). KV memory
// per rank is the total divided by this. REQUIRES: both positive.
int64_t NumKvShards(int64_t num_kv_heads, int64_t tp);

// DESIGN.md "Tensor parallelism with GQA": tp must be positive and divide the
// query heads, and tp must divide the KV heads or the KV heads divide tp.
// When tp > 1 and the model's intermediate_size is known (> 0), tp must also
// divide it in whole 32-element quantization blocks; when vocab_size is known (> 0), tp
// must divide it (vocab-parallel output head). INVALID_ARGUMENT naming --tp
// and the broken rule otherwise.
absl::Status ValidateTensorParallel(const ModelConfig& model, int64_t tp);

// Inputs of a KV plan beyond the model shape.
struct KvPlanOptions {
  int64_t context_tokens = 0;                // tokens a sequence reaches (prompt + generated); > 0
  DType dtype = DType::kBF16;                // KV storage dtype
  KvPolicy policy = KvPolicy::Full();        // default: full
  int64_t tp = 1;                            // tensor-parallel ranks of the worker group
  int64_t block_size = kDefaultKvBlockSize;  // tokens per paged-cache block
};

// One sequence's KV footprint. "formula" figures follow DESIGN.md's formula
// exactly (no scales, no padding); "allocated" figures are what the paged
// cache holds: whole blocks, with FP8 scales. Without _per_rank a figure
// covers all KV heads of the model (the whole worker group, counting a
// replicated head once).
struct KvPlan {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t bytes_per_element = 0;
  int64_t context_tokens = 0;      // as requested
  int64_t tokens_held = 0;         // min(context_tokens, policy bound)
  int64_t slots_per_sequence = 0;  // tokens_held rounded up to whole blocks
  int64_t blocks_per_sequence = 0;
  int64_t block_size = 0;
  int64_t tp = 1;
  int64_t num_kv_shards = 1;      // min(tp, num_kv_heads)
  int64_t kv_heads_per_rank = 0;  // num_kv_heads / num_kv_shards
  int64_t kv_replicas = 1;        // ranks holding each KV head: tp / num_kv_shards

  int64_t kv_bytes_per_token = 0;             // formula for one token, no scales
  int64_t kv_scale_bytes_per_token = 0;       // FP8 scales of one token (0 otherwise)
  int64_t kv_bytes_per_sequence_formula = 0;  // formula at tokens_held, no scales or padding
  int64_t kv_bytes_per_block = 0;             // allocated: block_size x (token + scales)
  int64_t kv_bytes_per_sequence = 0;          // allocated: padded slots, with scales

  int64_t kv_bytes_per_block_per_rank = 0;
  int64_t kv_bytes_per_sequence_per_rank = 0;  // kv_bytes_per_sequence / num_kv_shards
};

// Plans one sequence of `model` under `options`. INVALID_ARGUMENT when the KV
// shape is impossible (num_layers, num_query_heads, num_kv_heads, head_dim
// not positive, or num_kv_heads not dividing num_query_heads: the message
// names the field), when context_tokens or block_size is not positive, when
// tp breaks ValidateTensorParallel, or when a figure overflows int64.
// Only the KV shape is required; intermediate_size and vocab_size may be 0
// (unknown), which skips their tensor-parallel rules.
absl::StatusOr<KvPlan> PlanKv(const ModelConfig& model, const KvPlanOptions& options);

// Sequences that fit in `mem_bytes` of KV memory per rank:
// floor(mem_bytes / kv_bytes_per_sequence_per_rank), 0 when mem_bytes <= 0.
int64_t MaxSequences(const KvPlan& plan, int64_t mem_bytes);

}  // namespace gqa

#endif  // GQA_CORE_KV_SIZE_H_
