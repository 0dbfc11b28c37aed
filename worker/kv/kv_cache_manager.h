// KvCacheManager: hands out and takes back one rank's KV blocks for the
// sequences of the engine (DESIGN.md "KV cache"). Full-policy sequences reuse
// the published blocks of identical prefixes (refcounted, copy-on-write) and
// publish their own full blocks; bounded-policy sequences (streaming, window,
// h2o) keep their blocks private, because once they evict, their blocks no
// longer hold a plain prefix, and reuse their slots after eviction, so their
// footprint stays constant. Running out of blocks is "not now" (false), never
// an error. Thread-compatible: owned by the engine thread.
//
// A step of a sequence: Reserve(new tokens) -> the forward pass writes and
// reads the slots the SequenceKv names -> Commit (publishes newly full
// blocks; bounded policies add the step's attention and evict). Release
// returns every block, whatever state the sequence is in.
#ifndef GQA_WORKER_KV_KV_CACHE_MANAGER_H_
#define GQA_WORKER_KV_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/kv_options.h"
#include "worker/kv/block_pool.h"
#include "worker/kv/sequence_kv.h"

namespace gqa {

struct KvCacheManagerOptions {
  int64_t num_blocks = 0;
  int64_t block_size = 16;
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;       // that per-head policies track (the model's: rank 0 decides all)
  int64_t bytes_per_block = 0;    // allocated, scales included
  int64_t formula_bytes_per_token = 0;  // DESIGN.md formula, this rank, no scales
  int64_t scale_bytes_per_token = 0;    // FP8 scales of one token, this rank
  std::string model_fingerprint;
  bool prefix_caching = true;
  bool record_cache_events = false;  // BlockPool::set_record_events
};

// A block to copy before the step writes into it (copy-on-write of a shared block).
struct KvBlockCopy {
  int32_t src = 0;
  int32_t dst = 0;
};

// H2O: the attention the step's tokens gave each slot, as the kernel wrote it
// (AttentionParams::column_sums): token i's sums for (layer, KV head h) are
// data[layer * layer_stride + token_offsets[i] + h * scan_length + slot].
struct StepColumnSums {
  const float* data = nullptr;
  int64_t layer_stride = 0;
  std::vector<int64_t> token_offsets;  // [step tokens]
  int64_t scan_length = 0;
};

// A sequence's KV memory, as DESIGN.md counts it.
struct KvUsage {
  int64_t tokens_held = 0;
  int64_t blocks = 0;            // in its block table (shared ones included)
  int64_t formula_bytes = 0;     // tokens_held x formula bytes per token
  int64_t scale_bytes = 0;       // tokens_held x FP8 scale bytes per token
  int64_t allocated_bytes = 0;   // blocks x bytes per block: formula + scales + padding
};

class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheManagerOptions& options);

  const KvCacheManagerOptions& options() const { return options_; }
  const BlockPool& pool() const { return pool_; }
  // Cache events since the last call (see BlockPool::TakeEvents).
  void TakeCacheEvents(std::vector<BlockId>& removed, std::vector<BlockId>& stored) {
    pool_.TakeEvents(removed, stored);
  }

  // Starts a sequence whose tokens will begin with `prompt`. A full-policy
  // sequence takes the published blocks of its longest cached prefix (of
  // tenant's blocks only), at most prompt.size() - 1 tokens so that the last
  // prompt token is computed; num_tokens() then starts there.
  // `max_tokens` is the most positions it will reach (sizes bounded maps).
  std::unique_ptr<SequenceKv> Begin(const KvPolicy& policy, absl::string_view tenant,
                                    absl::Span<const int32_t> prompt, int64_t max_tokens);

  // Most tokens one step of `seq` may carry: unlimited (INT64_MAX) for the
  // full policy, block_size for bounded ones (their footprint allows one
  // step of at most a block beyond the bound).
  int64_t MaxStepTokens(const SequenceKv& seq) const;

  // Reserves slots for `token_ids`, the tokens at positions [num_tokens(),
  // num_tokens() + size). false: not enough free blocks now (nothing
  // changed). Blocks shared with other sequences that the step writes into
  // are replaced by private copies, appended to `copies` (the caller copies
  // them before the step). INVALID_ARGUMENT: more than MaxStepTokens, or a
  // step already reserved.
  absl::StatusOr<bool> Reserve(SequenceKv& seq, absl::Span<const int32_t> token_ids,
                               std::vector<KvBlockCopy>& copies);

  // Ends the reserved step after the forward pass wrote its K/V. `sums` is
  // required for h2o sequences, ignored otherwise.
  void Commit(SequenceKv& seq, const StepColumnSums* sums);

  // Installs prefix blocks that come from elsewhere (the kvstore) as cached
  // blocks of `tenant`, so that a later Begin finds them like its own: for
  // each id in order that is not cached yet, allocates a block, lets
  // `fill(block, index)` write its K/V, publishes it and leaves it cached
  // (owned by nobody, evictable). Stops at the first block it cannot
  // allocate or fill. Returns how many blocks it installed.
  int64_t InstallPrefixBlocks(absl::string_view tenant, absl::Span<const BlockId> ids,
                              const std::function<bool(int32_t block, size_t index)>& fill);
  // Drops cached prefix blocks nobody owns (of `tenant`, or all when empty).
  int64_t ClearCache(absl::string_view tenant) { return pool_.ClearCache(tenant); }

  // Returns every block of `seq` to the pool (finish, cancel or preempt).
  // A swapped-out sequence holds none and stops being swapped.
  void Release(SequenceKv& seq);

  // Swap (preemption without recomputation). SwapOut returns `seq`'s blocks
  // to the pool like Release but keeps everything else (positions, tokens,
  // bounded slot maps and h2o scores); the caller has exported the blocks'
  // contents first, in block_table() order. REQUIRES: no reserved step and
  // at least one block.
  void SwapOut(SequenceKv& seq);
  // Blocks the pool must have free to swap `seq` back in and then reserve a
  // step of `count` tokens.
  int64_t BlocksNeededToSwapIn(const SequenceKv& seq, int64_t count) const;
  // Allocates swapped_blocks() private blocks for a swapped-out sequence and
  // lets `fill(block, index)` write the contents exported from the index-th
  // block of its old table. false (and `seq` still swapped) when the blocks
  // are not free now or a fill fails. REQUIRES: seq.swapped().
  bool SwapIn(SequenceKv& seq, const std::function<bool(int32_t block, size_t index)>& fill);

  KvUsage Usage(const SequenceKv& seq) const;

  // Blocks the pool must have free for `seq`'s next step of `count` tokens.
  int64_t BlocksNeeded(const SequenceKv& seq, int64_t count) const;

 private:
  void PublishFullBlocks(SequenceKv& seq);

  KvCacheManagerOptions options_;
  BlockPool pool_;
  int64_t next_sequence_id_ = 1;
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_KV_CACHE_MANAGER_H_
