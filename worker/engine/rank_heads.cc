#include "worker/engine/rank_heads.h"

#include <algorithm>

namespace gqa {

const SlotPositions* RankHeads::SlotMaps(const ForwardBatch& batch, int64_t layer) {
  const SlotPositions* maps = batch.slot_positions.data() + layer * batch.num_seqs;
  if (whole()) return maps;
  maps_.assign(maps, maps + batch.num_seqs);
  for (SlotPositions& map : maps_) {
    if (map.positions != nullptr && map.head_stride > 0) map.positions += begin_ * map.head_stride;
  }
  return maps_.data();
}

const int64_t* RankHeads::HeadSlots(const ForwardBatch& batch, int64_t layer) {
  if (batch.head_slot_mapping.empty()) return nullptr;
  const int64_t tokens = batch.num_tokens();
  const int64_t* all = batch.head_slot_mapping.data() + layer * tokens * model_heads_;
  if (whole()) return all;
  head_slots_.resize(tokens * count_);
  for (int64_t t = 0; t < tokens; ++t) {
    std::copy_n(all + t * model_heads_ + begin_, count_, head_slots_.data() + t * count_);
  }
  return head_slots_.data();
}

void RankHeads::BeginColumnSums(const ForwardBatch& batch) {
  local_offsets_.assign(batch.column_sum_offsets.size(), -1);
  int64_t next = 0;
  for (size_t t = 0; t < batch.column_sum_offsets.size(); ++t) {
    if (batch.column_sum_offsets[t] < 0) continue;
    local_offsets_[t] = next;
    next += count_ * batch.context_lens[t];
  }
  local_sums_.assign(next, 0.0f);
}

void RankHeads::ScatterColumnSums(const ForwardBatch& batch, float* model_layer) const {
  for (size_t t = 0; t < batch.column_sum_offsets.size(); ++t) {
    if (batch.column_sum_offsets[t] < 0) continue;
    const int64_t scan = batch.context_lens[t];
    const float* local = local_sums_.data() + local_offsets_[t];
    float* model = model_layer + batch.column_sum_offsets[t] + begin_ * scan;
    std::copy_n(local, count_ * scan, model);
  }
}

}  // namespace gqa
