#include "worker/kv/block_pool.h"

#include <utility>

#include "core/log.h"

namespace gqa {

BlockPool::BlockPool(int64_t num_blocks)
    : ref_counts_(num_blocks, 0),
      prev_free_(num_blocks, kNone),
      next_free_(num_blocks, kNone),
      block_ids_(num_blocks),
      tenants_(num_blocks) {
  for (int64_t i = 0; i < num_blocks; ++i) PushFree(static_cast<int32_t>(i));
}

void BlockPool::PushFree(int32_t block_id) {
  prev_free_[block_id] = free_tail_;
  next_free_[block_id] = kNone;
  if (free_tail_ != kNone) {
    next_free_[free_tail_] = block_id;
  } else {
    free_head_ = block_id;
  }
  free_tail_ = block_id;
  ++num_free_;
}

void BlockPool::RemoveFree(int32_t block_id) {
  const int32_t prev = prev_free_[block_id], next = next_free_[block_id];
  if (prev != kNone) {
    next_free_[prev] = next;
  } else {
    free_head_ = next;
  }
  if (next != kNone) {
    prev_free_[next] = prev;
  } else {
    free_tail_ = prev;
  }
  prev_free_[block_id] = next_free_[block_id] = kNone;
  --num_free_;
}

std::optional<std::vector<int32_t>> BlockPool::TryAllocate(int64_t count) {
  if (count < 0 || count > num_free_) return std::nullopt;
  std::vector<int32_t> blocks;
  blocks.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const int32_t id = free_head_;
    RemoveFree(id);
    DCHECK_EQ(ref_counts_[id], 0);
    ref_counts_[id] = 1;
    if (block_ids_[id].has_value()) Unpublish(id);  // its contents are about to be overwritten
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
    if (--ref_counts_[*it] == 0) PushFree(*it);
  }
}

void BlockPool::Unpublish(int32_t block_id) {
  published_.erase(*block_ids_[block_id]);
  if (record_events_) removed_log_.push_back(*block_ids_[block_id]);
  block_ids_[block_id].reset();
  tenants_[block_id].clear();
}

void BlockPool::Publish(int32_t block_id, const BlockId& id, absl::string_view tenant) {
  CHECK_GT(ref_counts_[block_id], 0) << "publishing free block " << block_id;
  if (block_ids_[block_id].has_value() || published_.contains(id)) return;
  published_.emplace(id, block_id);
  block_ids_[block_id] = id;
  tenants_[block_id] = std::string(tenant);
  if (record_events_) stored_log_.push_back(id);
}

int64_t BlockPool::ClearCache(absl::string_view tenant) {
  int64_t cleared = 0;
  for (int32_t block = free_head_; block != kNone; block = next_free_[block]) {
    if (!block_ids_[block].has_value() || (!tenant.empty() && tenants_[block] != tenant)) continue;
    Unpublish(block);
    ++cleared;
  }
  return cleared;
}

void BlockPool::TakeEvents(std::vector<BlockId>& removed, std::vector<BlockId>& stored) {
  removed = std::exchange(removed_log_, {});
  stored = std::exchange(stored_log_, {});
}

std::optional<int32_t> BlockPool::Find(const BlockId& id) const {
  auto it = published_.find(id);
  if (it == published_.end()) return std::nullopt;
  return it->second;
}

void BlockPool::Share(int32_t block_id) {
  CHECK(block_ids_[block_id].has_value()) << "sharing unpublished block " << block_id;
  if (ref_counts_[block_id] == 0) RemoveFree(block_id);
  ++ref_counts_[block_id];
}

std::vector<BlockId> BlockPool::PublishedIds() const {
  std::vector<BlockId> ids;
  ids.reserve(published_.size());
  for (const auto& entry : published_) ids.push_back(entry.first);
  return ids;
}

}  // namespace gqa
