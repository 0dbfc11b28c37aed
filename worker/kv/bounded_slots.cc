#include "worker/kv/bounded_slots.h"

#include <algorithm>

#include "core/log.h"

namespace gqa {

BoundedSlots::BoundedSlots(const KvPolicy& policy, int64_t num_layers, int64_t num_kv_heads,
                           int64_t max_slots)
    : policy_(policy),
      per_head_(policy.kind == KvPolicy::Kind::kH2o),
      num_kv_heads_(num_kv_heads),
      num_maps_(per_head_ ? num_layers * num_kv_heads : 1),
      max_slots_(max_slots),
      positions_(num_maps_ * max_slots, -1),
      scores_(per_head_ ? num_maps_ * max_slots : 0, 0.0) {
  CHECK(policy.TokenBound().has_value()) << "BoundedSlots needs a bounded policy";
  CHECK_GT(max_slots, 0);
}

void BoundedSlots::Grow(int64_t slots) {
  CHECK_LE(capacity_ + slots, max_slots_);
  capacity_ += slots;
}

std::vector<int32_t> BoundedSlots::Place(int64_t first_position, int64_t count) {
  CHECK_LE(count, free_slots());
  std::vector<int32_t> placed(num_maps_ * count);
  for (int64_t m = 0; m < num_maps_; ++m) {
    int32_t* map = positions_.data() + m * max_slots_;
    int64_t slot = 0;
    for (int64_t i = 0; i < count; ++i) {
      while (map[slot] >= 0) ++slot;
      map[slot] = static_cast<int32_t>(first_position + i);
      if (per_head_) scores_[m * max_slots_ + slot] = 0.0;
      placed[m * count + i] = static_cast<int32_t>(slot);
    }
  }
  tokens_held_ += count;
  return placed;
}

void BoundedSlots::AddScores(int64_t map, absl::Span<const float> column_sums) {
  CHECK(per_head_);
  double* scores = scores_.data() + map * max_slots_;
  const int64_t n = std::min<int64_t>(capacity_, static_cast<int64_t>(column_sums.size()));
  for (int64_t s = 0; s < n; ++s) scores[s] += column_sums[s];
}

int64_t BoundedSlots::num_sinks() const {
  return policy_.kind == KvPolicy::Kind::kStreaming ? policy_.sink_tokens : 0;
}

int64_t BoundedSlots::recent_window() const {
  return policy_.kind == KvPolicy::Kind::kH2o ? 0 : policy_.window_tokens;
}

int64_t BoundedSlots::CachePosition(int64_t position) const {
  if (policy_.kind != KvPolicy::Kind::kStreaming) return position;
  return std::min(position, policy_.sink_tokens + policy_.window_tokens - 1);
}

void BoundedSlots::EvictMap(int64_t map, int64_t last_position, int64_t keep) {
  int32_t* positions = positions_.data() + map * max_slots_;
  if (!per_head_) {
    // Sinks and the W - 1 most recent stay: the next query sees them.
    const int64_t sinks = num_sinks();
    const int64_t oldest_recent = last_position - recent_window() + 2;
    for (int64_t s = 0; s < capacity_; ++s) {
      if (positions[s] >= sinks && positions[s] < oldest_recent) positions[s] = -1;
    }
    return;
  }
  // h2o: the R - 1 most recent stay; of the others, the lowest scores go
  // first and a tie evicts the older token.
  const double* scores = scores_.data() + map * max_slots_;
  const int64_t oldest_recent = last_position - policy_.recent_tokens + 2;
  std::vector<int32_t> candidates;
  int64_t held = 0;
  for (int64_t s = 0; s < capacity_; ++s) {
    if (positions[s] < 0) continue;
    ++held;
    if (positions[s] < oldest_recent) candidates.push_back(static_cast<int32_t>(s));
  }
  const int64_t excess = held - keep;
  if (excess <= 0) return;
  std::partial_sort(candidates.begin(), candidates.begin() + excess, candidates.end(),
                    [&](int32_t a, int32_t b) {
                      if (scores[a] != scores[b]) return scores[a] < scores[b];
                      return positions[a] < positions[b];
                    });
  for (int64_t i = 0; i < excess; ++i) positions[candidates[i]] = -1;
}

int64_t BoundedSlots::Evict(int64_t last_position) {
  const int64_t keep = *policy_.TokenBound() - 1;
  if (tokens_held_ <= keep) return 0;
  for (int64_t m = 0; m < num_maps_; ++m) EvictMap(m, last_position, keep);
  // Every map holds the same count: streaming and window by construction
  // (one map), h2o by evicting exactly the excess from each.
  int64_t held = 0;
  for (int64_t s = 0; s < capacity_; ++s) held += positions_[s] >= 0 ? 1 : 0;
  const int64_t evicted = tokens_held_ - held;
  tokens_held_ = held;
  return evicted;
}

std::vector<int32_t> BoundedSlots::HeldPositions(int64_t map) const {
  std::vector<int32_t> held;
  const int32_t* positions = this->positions(map);
  for (int64_t s = 0; s < capacity_; ++s) {
    if (positions[s] >= 0) held.push_back(positions[s]);
  }
  std::sort(held.begin(), held.end());
  return held;
}

}  // namespace gqa
