// ForwardBatch: the flattened tokens of one step, from any mix of sequences,
// prefill chunks and decode tokens (vLLM-style). The scheduler (or the
// offline generator) fills it; Model::Forward reads it. Plain value type.
#ifndef GQA_WORKER_ENGINE_FORWARD_BATCH_H_
#define GQA_WORKER_ENGINE_FORWARD_BATCH_H_

#include <cstdint>
#include <vector>

#include "worker/backend/params.h"

namespace gqa {

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens]: RoPE position of each token
  std::vector<int32_t> seq_idx;       // [num_tokens]: row of block_tables
  std::vector<int32_t> context_lens;  // [num_tokens]: cache positions visible, itself included
  std::vector<int64_t> slot_mapping;  // [num_tokens]: cache slot the token's K/V goes to
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks_per_seq]
  int64_t num_seqs = 0;
  int64_t max_blocks_per_seq = 0;
  // [num_seqs] or empty: who each row is across steps (SequenceKv::id,
  // distinct), so the tensor-parallel step plan sends a sequence's tables as
  // changes since its last step (step_plan.h). Empty: sent whole every step.
  std::vector<int64_t> seq_ids;
  // Tokens whose logits are wanted (usually the last token of each sequence),
  // in the order of the rows of the logits output.
  std::vector<int32_t> logit_token_idx;

  // Bounded KV policies (docs/kv-cache.md); all empty when every sequence
  // keeps its full cache. See AttentionParams for what the kernel does.
  std::vector<int32_t> num_sinks;               // [num_seqs]
  std::vector<int32_t> recent_window;           // [num_seqs]
  std::vector<SlotPositions> slot_positions;    // [num_layers, num_seqs]
  // StreamingLLM: each token's position within the cache, the rotation of
  // its query against sink slots. Empty: no sequence has sinks.
  std::vector<int32_t> sink_positions;          // [num_tokens]
  // h2o: a destination slot per (layer, token, KV head); empty: slot_mapping.
  std::vector<int64_t> head_slot_mapping;       // [num_layers, num_tokens, num_kv_heads]
  // h2o: where each token's column sums go within a layer's block of
  // column_sums_per_layer floats (-1: not wanted). Empty: none wanted.
  std::vector<int64_t> column_sum_offsets;      // [num_tokens]
  int64_t column_sums_per_layer = 0;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_FORWARD_BATCH_H_
