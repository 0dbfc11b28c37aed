#include "worker/kv/block_pool.h"

#include "core/log.h"

namespace gqa {

BlockPool::BlockPool(int64_t num_blocks) : ref_counts_(num_blocks, 0) {
  for (int64_t i = 0; i < num_blocks; ++i) free_queue_.push_back(static_cast<int32_t>(i));
}

std::optional<std::vector<int32_t>> BlockPool::TryAllocate(int64_t count) {
  if (count < 0 || count > num_free_blocks()) return std::nullopt;
  std::vector<int32_t> blocks;
  blocks.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const int32_t id = free_queue_.front();
    free_queue_.pop_front();
    DCHECK_EQ(ref_counts_[id], 0);
    ref_counts_[id] = 1;
    blocks.push_back(id);
  }
  return blocks;
}

void BlockPool::Touch(absl::Span<const int32_t> block_ids) {
  for (int32_t id : block_ids) {
    CHECK_GT(ref_counts_[id], 0) << "touching free block " << id;
    ++ref_counts_[id];
  }
}

void BlockPool::Free(absl::Span<const int32_t> block_ids) {
  for (auto it = block_ids.rbegin(); it != block_ids.rend(); ++it) {
    CHECK_GT(ref_counts_[*it], 0) << "double free of block " << *it;
    if (--ref_counts_[*it] == 0) free_queue_.push_back(*it);
  }
}

}  // namespace gqa
