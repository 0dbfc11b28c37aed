#include "worker/engine/rank_heads.h"

#include <algorithm>

namespace gqa {
namespace {

// Where token t's sums start in a layer of this layout: tokens that want
// sums take `heads` x their context each, in order.
std::vector<int64_t> SumOffsets(const ForwardBatch& batch, int64_t heads, int64_t* per_layer) {
  std::vector<int64_t> offsets(batch.column_sum_offsets.size(), -1);
  int64_t next = 0;
  for (size_t t = 0; t < offsets.size(); ++t) {
    if (batch.column_sum_offsets[t] < 0) continue;
    offsets[t] = next;
    next += heads * batch.context_lens[t];
  }
  *per_layer = next;
  return offsets;
}

}  // namespace

bool RankHeads::Splits(const ForwardBatch& batch) const {
  if (whole()) return false;
  if (!batch.head_slot_mapping.empty() || !batch.column_sum_offsets.empty()) return true;
  return std::any_of(batch.slot_positions.begin(), batch.slot_positions.end(),
                     [](const SlotPositions& map) {
                       return map.positions != nullptr && map.head_stride > 0;
                     });
}

void RankHeads::Localize(const ForwardBatch& batch, ForwardBatch& rank) const {
  rank = batch;
  for (SlotPositions& map : rank.slot_positions) {
    if (map.positions != nullptr && map.head_stride > 0) map.positions += begin_ * map.head_stride;
  }
  if (!batch.head_slot_mapping.empty()) {
    const int64_t rows = static_cast<int64_t>(batch.head_slot_mapping.size()) / model_heads_;
    rank.head_slot_mapping.resize(rows * count_);
    for (int64_t row = 0; row < rows; ++row) {  // [layer, token] rows
      std::copy_n(batch.head_slot_mapping.data() + row * model_heads_ + begin_, count_,
                  rank.head_slot_mapping.data() + row * count_);
    }
  }
  if (!batch.column_sum_offsets.empty()) {
    rank.column_sum_offsets = SumOffsets(batch, count_, &rank.column_sums_per_layer);
  }
}

void RankHeads::ScatterColumnSums(const ForwardBatch& batch, const std::vector<float>& rank_sums,
                                  std::vector<float>& model_sums) const {
  int64_t rank_per_layer = 0;
  const std::vector<int64_t> rank_offsets = SumOffsets(batch, count_, &rank_per_layer);
  const int64_t layers =
      batch.column_sums_per_layer > 0
          ? static_cast<int64_t>(model_sums.size()) / batch.column_sums_per_layer
          : 0;
  for (int64_t l = 0; l < layers; ++l) {
    for (size_t t = 0; t < rank_offsets.size(); ++t) {
      if (rank_offsets[t] < 0) continue;
      const int64_t scan = batch.context_lens[t];
      std::copy_n(rank_sums.data() + l * rank_per_layer + rank_offsets[t], count_ * scan,
                  model_sums.data() + l * batch.column_sums_per_layer +
                      batch.column_sum_offsets[t] + begin_ * scan);
    }
  }
}

}  // namespace gqa
