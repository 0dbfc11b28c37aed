// RankHeads: a step as one tensor-parallel rank runs it. The step builder
// lays the h2o arrays (per-head slot maps, per-head cache slots, column-sum
// offsets) out over all of the model's KV heads, because rank 0's KV manager
// decides every rank's evictions; a rank owns heads [begin, begin + count)
// of them (ShardPlan). Localize gives the rank a batch over its own heads
// only, which the forward pass runs as it would at tp = 1, and
// ScatterColumnSums puts the column sums that pass computed back in the
// model-wide layout, where the group's all-reduce adds up every rank's heads
// (and, for a KV head replicated on several ranks, every rank's share of its
// query heads). Thread-compatible.
#ifndef GQA_WORKER_ENGINE_RANK_HEADS_H_
#define GQA_WORKER_ENGINE_RANK_HEADS_H_

#include <cstdint>
#include <vector>

#include "worker/engine/forward_batch.h"

namespace gqa {

class RankHeads {
 public:
  RankHeads(int64_t model_kv_heads, int64_t begin, int64_t count)
      : model_heads_(model_kv_heads), begin_(begin), count_(count) {}

  // This rank owns every KV head: the batch is its own as it is.
  bool whole() const { return begin_ == 0 && count_ == model_heads_; }
  // `batch` has per-head arrays this rank must cut to its heads (Localize);
  // false for a whole rank, and for steps without h2o (most steps).
  bool Splits(const ForwardBatch& batch) const;

  // `rank` (overwritten) = `batch` with the per-head arrays cut to this
  // rank's heads: per-head slot maps start at its first head (they still
  // point into `batch`'s maps, which must outlive `rank`), head slots and
  // column-sum offsets cover its heads only.
  void Localize(const ForwardBatch& batch, ForwardBatch& rank) const;

  // `rank_sums` ([layers, rank.column_sums_per_layer], from the forward pass
  // of Localize's batch) into their places in `model_sums` ([layers,
  // batch.column_sums_per_layer], zeroed by the caller); the other heads'
  // places are left for the all-reduce.
  void ScatterColumnSums(const ForwardBatch& batch, const std::vector<float>& rank_sums,
                         std::vector<float>& model_sums) const;

 private:
  int64_t model_heads_;
  int64_t begin_;
  int64_t count_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_RANK_HEADS_H_
