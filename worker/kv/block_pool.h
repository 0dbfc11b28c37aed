// BlockPool: the per-rank pool of fixed-size KV blocks. Hands out block ids,
// counts references (a block shared by identical prefixes has several owners)
// and takes blocks back when their count drops to zero. Running out is "not
// now" for the caller (nullopt), never an error. Thread-compatible: owned by
// the engine thread.
#ifndef GQA_WORKER_KV_BLOCK_POOL_H_
#define GQA_WORKER_KV_BLOCK_POOL_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/types/span.h"

namespace gqa {

class BlockPool {
 public:
  explicit BlockPool(int64_t num_blocks);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int64_t num_blocks() const { return static_cast<int64_t>(ref_counts_.size()); }
  int64_t num_free_blocks() const { return static_cast<int64_t>(free_queue_.size()); }

  // `count` fresh blocks with reference count 1, or nullopt (and no change)
  // when fewer are free.
  std::optional<std::vector<int32_t>> TryAllocate(int64_t count);

  // Adds an owner to each block. REQUIRES: each block is allocated.
  void Touch(absl::Span<const int32_t> block_ids);

  // Drops one owner of each block, in reverse order; blocks nobody owns
  // return to the free queue. REQUIRES: each block is allocated.
  void Free(absl::Span<const int32_t> block_ids);

  int32_t ref_count(int32_t block_id) const { return ref_counts_[block_id]; }

 private:
  std::vector<int32_t> ref_counts_;  // [num_blocks]
  std::deque<int32_t> free_queue_;
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_BLOCK_POOL_H_
