// Step building: turns the reserved steps of several sequences (each a
// SequenceKv from the KvCacheManager plus its new tokens) into one
// ForwardBatch, the kernel's view of block tables, slots and the bounded
// policies' slot maps; and after the forward pass, hands each h2o sequence
// its column sums back for KvCacheManager::Commit; and the manager's options
// for a model and its storage. Used by the offline
// generator and the worker's scheduler. Pure functions over their inputs.
#ifndef GQA_WORKER_ENGINE_STEP_BUILDER_H_
#define GQA_WORKER_ENGINE_STEP_BUILDER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "worker/backend/backend.h"
#include "worker/engine/forward_batch.h"
#include "worker/engine/model.h"
#include "worker/kv/kv_cache_manager.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

// One sequence's part of a step. Its KvCacheManager::Reserve for
// `token_ids` has succeeded.
struct StepSequence {
  const SequenceKv* kv = nullptr;
  absl::Span<const int32_t> token_ids;
  std::vector<int32_t> logit_offsets;  // step tokens whose logits are wanted, in order
};

// Fills `batch` (overwritten) for `sequences`, whose logits rows come in
// order of the sequences, then of their logit_offsets.
void BuildForwardBatch(absl::Span<const StepSequence> sequences, int64_t block_size,
                       int64_t num_layers, int64_t num_kv_heads, ForwardBatch& batch);

// The column sums of sequence `index` of the batch, from the model's
// column_sums output, for KvCacheManager::Commit.
StepColumnSums ColumnSumsOf(const ForwardBatch& batch, absl::Span<const StepSequence> sequences,
                            int64_t index, const std::vector<float>& column_sums);

// The cache manager's options for `model`'s rank over `storage`.
KvCacheManagerOptions KvManagerOptionsFor(const Model& model, const KvCacheStorage& storage,
                                          bool prefix_caching = true);

// Runs the copy-on-write copies Reserve asked for, in every layer.
absl::Status CopyBlocks(Backend& backend, const std::vector<PagedKvView>& layers,
                        const std::vector<KvBlockCopy>& copies);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_STEP_BUILDER_H_
