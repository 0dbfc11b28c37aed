// SequenceKv: one sequence's share of the paged KV cache: its block table,
// its policy and, for bounded policies, which positions its slots hold. The
// KvCacheManager creates and changes it; the step builder reads it to fill a
// forward batch. Thread-compatible: owned by the engine thread.
#ifndef GQA_WORKER_KV_SEQUENCE_KV_H_
#define GQA_WORKER_KV_SEQUENCE_KV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/block_id.h"
#include "core/kv_options.h"
#include "worker/kv/bounded_slots.h"

namespace gqa {

class SequenceKv {
 public:
  SequenceKv(const SequenceKv&) = delete;
  SequenceKv& operator=(const SequenceKv&) = delete;

  // Unique among the sequences of the manager that began it (for whoever
  // refers to the sequence across steps, such as the tensor-parallel plan).
  int64_t id() const { return id_; }
  const KvPolicy& policy() const { return policy_; }
  bool bounded() const { return bounded_.has_value(); }
  const std::vector<int32_t>& block_table() const { return blocks_; }

  // Positions computed so far (the next token's position).
  int64_t num_tokens() const { return num_tokens_; }
  // Tokens of the current step, reserved and not yet committed.
  int64_t step_tokens() const { return step_tokens_; }
  // Tokens the cache holds now (between steps).
  int64_t tokens_held() const { return bounded_ ? bounded_->tokens_held() : num_tokens_; }
  // Prompt tokens found in the prefix cache when the sequence began.
  int64_t reused_prefix_tokens() const { return reused_prefix_tokens_; }
  // Tokens evicted so far (per KV head, for h2o).
  int64_t evicted_tokens() const { return evicted_tokens_; }
  // Swapped out (KvCacheManager::SwapOut): the sequence holds no blocks but
  // keeps its positions and policy state until SwapIn gives it
  // swapped_blocks() fresh ones.
  bool swapped() const { return swapped_blocks_ > 0; }
  int64_t swapped_blocks() const { return swapped_blocks_; }

  // For the step being built (valid between Reserve and Commit):
  // The logical slot of step token i read by (layer, KV head); physical slot
  // = block_table()[slot / block_size] * block_size + slot % block_size.
  int64_t StepSlot(int64_t i, int64_t layer, int64_t kv_head) const;
  // Slots the kernel scans for step token i (its context length).
  int64_t ScanLength(int64_t i) const;
  const BoundedSlots* bounded_slots() const { return bounded_ ? &*bounded_ : nullptr; }

 private:
  friend class KvCacheManager;
  SequenceKv(const KvPolicy& policy, const BlockId& root, absl::string_view tenant)
      : policy_(policy), tenant_(tenant), chain_tail_(root) {}

  int64_t id_ = 0;
  KvPolicy policy_;
  std::string tenant_;
  std::vector<int32_t> blocks_;
  int64_t num_tokens_ = 0;
  int64_t step_tokens_ = 0;
  int64_t reused_prefix_tokens_ = 0;
  int64_t evicted_tokens_ = 0;
  int64_t swapped_blocks_ = 0;  // > 0 while swapped out
  // Full policy: the token ids so far, for the logical ids of full blocks.
  std::vector<int32_t> token_ids_;
  BlockId chain_tail_;          // id of the last published block (or the root)
  int64_t hashed_blocks_ = 0;   // leading full blocks whose id is known
  std::optional<BoundedSlots> bounded_;
  std::vector<int32_t> step_slots_;  // bounded: [num_maps, step_tokens] from BoundedSlots::Place
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_SEQUENCE_KV_H_
