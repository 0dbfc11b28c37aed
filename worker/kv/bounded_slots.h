// BoundedSlots: which token positions a sequence under a bounded KV policy
// (streaming, window, h2o) keeps in which cache slots, and which it evicts
// after each step. Pure bookkeeping, no KV data: the cache manager allocates
// the blocks behind the slots and the attention kernel reads the maps
// (SlotPositions in worker/backend/params.h).
//
// The policies, for a query at position p (docs/kv-cache.md):
//   streaming:S+W  sees the S first tokens (sinks) and the W most recent,
//                  p - W < pos <= p, itself included;
//   window:W       the W most recent only;
//   h2o:H+R        the H kept tokens with the largest accumulated attention
//                  and the R most recent, itself included.
// After a step ending at position L a sequence therefore keeps S + W - 1
// (H + R - 1) tokens; the next step's tokens occupy free slots, so the
// footprint is the bound plus at most one step of new tokens.
//
// streaming and window keep one map for every layer and KV head. h2o selects
// per layer and per KV head (a K/V head serves its whole group of query
// heads, whose probabilities are summed into its score), so it keeps one map
// per (layer, KV head); every map holds the same number of tokens, so they
// all have the same number of free slots. Thread-compatible.
#ifndef GQA_WORKER_KV_BOUNDED_SLOTS_H_
#define GQA_WORKER_KV_BOUNDED_SLOTS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/kv_options.h"

namespace gqa {

class BoundedSlots {
 public:
  // REQUIRES: policy is bounded; max_slots > 0.
  BoundedSlots(const KvPolicy& policy, int64_t num_layers, int64_t num_kv_heads,
               int64_t max_slots);

  const KvPolicy& policy() const { return policy_; }
  // One map for every layer and head, or one per (layer, head) for h2o.
  bool per_head() const { return per_head_; }
  int64_t num_maps() const { return num_maps_; }
  int64_t max_slots() const { return max_slots_; }
  // Slots in use by the maps (the kernel scans [0, capacity())).
  int64_t capacity() const { return capacity_; }
  // Makes `slots` more slots available. REQUIRES: capacity() + slots <= max_slots().
  void Grow(int64_t slots);

  // Tokens every map holds, and free slots of every map.
  int64_t tokens_held() const { return tokens_held_; }
  int64_t free_slots() const { return capacity_ - tokens_held_; }

  // Places positions [first, first + count) into the lowest free slots of
  // each map and returns them, [num_maps(), count]. REQUIRES: free_slots() >= count.
  std::vector<int32_t> Place(int64_t first_position, int64_t count);

  // h2o: adds the attention each slot received in a step (the kernel's
  // column sums for one token, over [0, capacity())) to the map's scores.
  void AddScores(int64_t map, absl::Span<const float> column_sums);

  // Evicts what the policy no longer keeps after a step whose last position
  // is `last_position`; returns the tokens evicted from each map.
  int64_t Evict(int64_t last_position);

  // [capacity()] positions of map `map`, -1 for an empty slot; maps are
  // max_slots() apart.
  const int32_t* positions(int64_t map) const { return positions_.data() + map * max_slots_; }
  // The map the (layer, KV head) reads.
  int64_t MapOf(int64_t layer, int64_t kv_head) const {
    return per_head_ ? layer * num_kv_heads_ + kv_head : 0;
  }
  // Sorted positions a map holds (tests and reports).
  std::vector<int32_t> HeldPositions(int64_t map) const;

  // The first positions always kept (streaming sinks), and the most recent
  // positions a query sees, itself included (0: no limit, for h2o).
  int64_t num_sinks() const;
  int64_t recent_window() const;
  // The position of a query at `position` within the cache, the rotation
  // StreamingLLM gives it against the sinks: min(position, S + W - 1).
  int64_t CachePosition(int64_t position) const;

 private:
  void EvictMap(int64_t map, int64_t last_position, int64_t keep);

  KvPolicy policy_;
  bool per_head_;
  int64_t num_kv_heads_;
  int64_t num_maps_;
  int64_t max_slots_;
  int64_t capacity_ = 0;
  int64_t tokens_held_ = 0;
  std::vector<int32_t> positions_;  // [num_maps, max_slots]
  std::vector<double> scores_;      // [num_maps, max_slots]: h2o accumulated attention
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_BOUNDED_SLOTS_H_
