// RankHeads: the part of a step's per-KV-head arrays that one
// tensor-parallel rank reads and writes. The step builder lays the h2o
// arrays (per-head slot maps, per-head cache slots, column sums) out over
// all of the model's KV heads, because rank 0's KV manager decides every
// rank's evictions; a rank owns heads [begin, begin + count) of them
// (ShardPlan). RankHeads gives the attention kernels this rank's view, and
// puts the kernel's column sums back in the model-wide layout, where the
// group's all-reduce adds up every rank's heads (and, for a replicated KV
// head, every rank's share of its query heads). At tp = 1 every view is the
// array itself. Step scratch; thread-compatible.
#ifndef GQA_WORKER_ENGINE_RANK_HEADS_H_
#define GQA_WORKER_ENGINE_RANK_HEADS_H_

#include <cstdint>
#include <vector>

#include "worker/backend/params.h"
#include "worker/engine/forward_batch.h"

namespace gqa {

class RankHeads {
 public:
  RankHeads(int64_t model_kv_heads, int64_t begin, int64_t count)
      : model_heads_(model_kv_heads), begin_(begin), count_(count) {}

  // This rank owns every KV head: the batch's arrays are its own.
  bool whole() const { return begin_ == 0 && count_ == model_heads_; }

  // The slot maps of `layer` ([num_seqs]) with per-head maps starting at
  // this rank's first head.
  const SlotPositions* SlotMaps(const ForwardBatch& batch, int64_t layer);
  // The h2o cache slots of `layer`, [num_tokens, count] (null when the batch
  // has none).
  const int64_t* HeadSlots(const ForwardBatch& batch, int64_t layer);

  // Column sums of one layer. Begin (every layer): zeroes a rank-local
  // buffer for this rank's heads only and computes the kernel's per-token
  // offsets into it.
  void BeginColumnSums(const ForwardBatch& batch);
  const int64_t* local_sum_offsets() const { return local_offsets_.data(); }
  float* local_sums() { return local_sums_.data(); }
  // Copies what the kernel wrote there to this rank's heads' places in
  // `model_layer` (batch.column_sums_per_layer floats, the model-wide
  // layout); the other heads' places are left for the all-reduce to fill.
  void ScatterColumnSums(const ForwardBatch& batch, float* model_layer) const;

 private:
  int64_t model_heads_;
  int64_t begin_;
  int64_t count_;
  std::vector<SlotPositions> maps_;
  std::vector<int64_t> head_slots_;
  std::vector<int64_t> local_offsets_;
  std::vector<float> local_sums_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_RANK_HEADS_H_
