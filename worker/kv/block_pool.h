// BlockPool: the per-rank pool of fixed-size KV blocks, and the prefix cache
// over it. Hands out block ids, counts references (a block shared by
// identical prefixes has several owners) and takes blocks back when their
// count drops to zero. A full block may be published under its logical id
// (core/block_id.h); it stays findable after its last owner frees it, until
// an allocation reuses it (least recently freed first), so a later request
// with the same prefix gets it back without recomputing. Running out is "not
// now" for the caller (nullopt), never an error. Thread-compatible: owned by
// the engine thread.
#ifndef GQA_WORKER_KV_BLOCK_POOL_H_
#define GQA_WORKER_KV_BLOCK_POOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/block_id.h"

namespace gqa {

class BlockPool {
 public:
  explicit BlockPool(int64_t num_blocks);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int64_t num_blocks() const { return static_cast<int64_t>(ref_counts_.size()); }
  // Blocks nobody owns, cached ones included (an allocation may take them).
  int64_t num_free_blocks() const { return num_free_; }
  int64_t num_used_blocks() const { return num_blocks() - num_free_; }

  // `count` blocks with reference count 1, or nullopt (and no change) when
  // fewer are free. Reused cached blocks lose their logical id.
  std::optional<std::vector<int32_t>> TryAllocate(int64_t count);

  // Adds an owner to each block. REQUIRES: each block is allocated.
  void Touch(absl::Span<const int32_t> block_ids);

  // Drops one owner of each block, in reverse order, so that a sequence's
  // tail blocks (the least likely to be shared) are reused first; blocks
  // nobody owns become free. REQUIRES: each block is allocated.
  void Free(absl::Span<const int32_t> block_ids);

  int32_t ref_count(int32_t block_id) const { return ref_counts_[block_id]; }

  // Prefix cache.
  // Registers allocated `block_id` as holding the full block `id` of
  // `tenant`. A no-op when `id` is already published (by this or another
  // block) or the block already has an id.
  void Publish(int32_t block_id, const BlockId& id, absl::string_view tenant = "");
  // Unpublishes the cached blocks nobody owns, of `tenant` or of every
  // tenant when it is empty; blocks of live sequences stay. Returns how many.
  int64_t ClearCache(absl::string_view tenant);
  // The tenant a published block was published for ("" when unpublished).
  const std::string& tenant_of(int32_t block_id) const { return tenants_[block_id]; }
  // The block published as `id`, owned or free, if any.
  std::optional<int32_t> Find(const BlockId& id) const;
  // Adds an owner to a published block found by Find, taking it off the
  // free list when nobody owned it.
  void Share(int32_t block_id);
  // Logical ids of every published block, for the worker's info report.
  std::vector<BlockId> PublishedIds() const;
  int64_t num_published_blocks() const { return static_cast<int64_t>(published_.size()); }

  // Cache events (for the router's KV-aware routing): when recording, every
  // id published and every published id dropped (its block reused) is
  // logged until TakeEvents. Off by default, so a pool nobody watches logs
  // nothing.
  void set_record_events(bool record) { record_events_ = record; }
  // Moves the logged ids out: removals first, then stores, which is their
  // order within one scheduler step (blocks are allocated before new full
  // blocks are published).
  void TakeEvents(std::vector<BlockId>& removed, std::vector<BlockId>& stored);

 private:
  static constexpr int32_t kNone = -1;
  void PushFree(int32_t block_id);
  // Drops a published block's id (logging the removal). REQUIRES: it has one.
  void Unpublish(int32_t block_id);
  void RemoveFree(int32_t block_id);

  std::vector<int32_t> ref_counts_;  // [num_blocks]
  // Free blocks as a doubly linked list, oldest free at the head.
  std::vector<int32_t> prev_free_, next_free_;  // [num_blocks]
  int32_t free_head_ = kNone, free_tail_ = kNone;
  int64_t num_free_ = 0;
  std::vector<std::optional<BlockId>> block_ids_;  // [num_blocks]: published id
  std::vector<std::string> tenants_;               // [num_blocks]: of the published id
  absl::flat_hash_map<BlockId, int32_t> published_;
  bool record_events_ = false;
  std::vector<BlockId> removed_log_, stored_log_;
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_BLOCK_POOL_H_
