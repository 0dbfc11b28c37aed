// ForwardBatch: the flattened tokens of one step, from any mix of sequences,
// prefill chunks and decode tokens (vLLM-style). The scheduler (or the
// offline generator) fills it; Model::Forward reads it. Plain value type.
#ifndef GQA_WORKER_ENGINE_FORWARD_BATCH_H_
#define GQA_WORKER_ENGINE_FORWARD_BATCH_H_

#include <cstdint>
#include <vector>

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
  // Tokens whose logits are wanted (usually the last token of each sequence),
  // in the order of the rows of the logits output.
  std::vector<int32_t> logit_token_idx;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_FORWARD_BATCH_H_
