#include "worker/kv/kv_cache_manager.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/kv_size.h"
#include "core/log.h"

namespace gqa {

int64_t SequenceKv::StepSlot(int64_t i, int64_t layer, int64_t kv_head) const {
  if (!bounded_) return num_tokens_ + i;
  return step_slots_[bounded_->MapOf(layer, kv_head) * step_tokens_ + i];
}

int64_t SequenceKv::ScanLength(int64_t i) const {
  return bounded_ ? bounded_->capacity() : num_tokens_ + i + 1;
}

KvCacheManager::KvCacheManager(const KvCacheManagerOptions& options)
    : options_(options), pool_(options.num_blocks) {
  CHECK_GT(options.block_size, 0);
  pool_.set_record_events(options.record_cache_events);
}

std::unique_ptr<SequenceKv> KvCacheManager::Begin(const KvPolicy& policy, absl::string_view tenant,
                                                  absl::Span<const int32_t> prompt,
                                                  int64_t max_tokens) {
  const int64_t bs = options_.block_size;
  const BlockId root = RootBlockId(options_.model_fingerprint, tenant);
  auto seq = std::unique_ptr<SequenceKv>(new SequenceKv(policy, root, tenant));
  seq->id_ = next_sequence_id_++;
  if (policy.TokenBound().has_value()) {
    absl::StatusOr<int64_t> max_slots = SlotsPerSequence(policy, std::max<int64_t>(1, max_tokens), bs);
    CHECK(max_slots.ok()) << max_slots.status();
    seq->bounded_.emplace(policy, options_.num_layers, options_.num_kv_heads, *max_slots);
    return seq;
  }
  if (!options_.prefix_caching || prompt.size() < 2) return seq;
  const std::vector<BlockId> ids = ChainBlockIds(root, prompt, bs);
  for (const BlockId& id : ids) {
    const std::optional<int32_t> block = pool_.Find(id);
    if (!block.has_value()) break;
    pool_.Share(*block);
    seq->blocks_.push_back(*block);
  }
  // The last prompt token is always computed: its logits start generation.
  const int64_t reused =
      std::min<int64_t>(static_cast<int64_t>(seq->blocks_.size()) * bs,
                        static_cast<int64_t>(prompt.size()) - 1);
  seq->num_tokens_ = reused;
  seq->reused_prefix_tokens_ = reused;
  seq->token_ids_.assign(prompt.begin(), prompt.begin() + reused);
  seq->hashed_blocks_ = reused / bs;
  if (seq->hashed_blocks_ > 0) seq->chain_tail_ = ids[seq->hashed_blocks_ - 1];
  return seq;
}

int64_t KvCacheManager::MaxStepTokens(const SequenceKv& seq) const {
  return seq.bounded() ? options_.block_size : std::numeric_limits<int64_t>::max();
}

int64_t KvCacheManager::BlocksNeeded(const SequenceKv& seq, int64_t count) const {
  const int64_t bs = options_.block_size;
  if (seq.bounded()) {
    const int64_t missing = count - seq.bounded_->free_slots();
    return missing <= 0 ? 0 : (missing + bs - 1) / bs;
  }
  const int64_t held = static_cast<int64_t>(seq.blocks_.size());
  const int64_t fresh = std::max<int64_t>(0, (seq.num_tokens_ + count + bs - 1) / bs - held);
  int64_t copies = 0;
  for (int64_t b = seq.num_tokens_ / bs; b < held; ++b) copies += pool_.ref_count(seq.blocks_[b]) > 1;
  return fresh + copies;
}

absl::StatusOr<bool> KvCacheManager::Reserve(SequenceKv& seq, absl::Span<const int32_t> token_ids,
                                             std::vector<KvBlockCopy>& copies) {
  const int64_t bs = options_.block_size;
  const int64_t count = static_cast<int64_t>(token_ids.size());
  if (seq.step_tokens_ > 0) {
    return absl::InvalidArgumentError("KV reserve: the previous step was not committed");
  }
  if (count < 1 || count > MaxStepTokens(seq)) {
    return absl::InvalidArgumentError(absl::StrCat("KV reserve: a step of ", count,
                                                   " tokens; a ", FormatKvPolicy(seq.policy_),
                                                   " sequence takes 1 to ", MaxStepTokens(seq)));
  }
  const int64_t needed = BlocksNeeded(seq, count);
  if (seq.bounded() && seq.bounded_->capacity() + needed * bs > seq.bounded_->max_slots()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV reserve: position ", seq.num_tokens_ + count - 1,
        " is beyond the length the sequence was begun with"));
  }
  std::optional<std::vector<int32_t>> fresh = pool_.TryAllocate(needed);
  if (!fresh.has_value()) return false;
  auto next = fresh->begin();
  if (seq.bounded()) {
    seq.blocks_.insert(seq.blocks_.end(), fresh->begin(), fresh->end());
    seq.bounded_->Grow(needed * bs);
    seq.step_slots_ = seq.bounded_->Place(seq.num_tokens_, count);
  } else {
    const int64_t held = static_cast<int64_t>(seq.blocks_.size());
    for (int64_t b = seq.num_tokens_ / bs; b < held; ++b) {
      const int32_t shared = seq.blocks_[b];
      if (pool_.ref_count(shared) <= 1) continue;
      copies.push_back({shared, *next});
      seq.blocks_[b] = *next++;
      pool_.Free({&shared, 1});
    }
    seq.blocks_.insert(seq.blocks_.end(), next, fresh->end());
    if (options_.prefix_caching) {
      seq.token_ids_.insert(seq.token_ids_.end(), token_ids.begin(), token_ids.end());
    }
  }
  seq.step_tokens_ = count;
  return true;
}

void KvCacheManager::Commit(SequenceKv& seq, const StepColumnSums* sums) {
  const int64_t step = seq.step_tokens_;
  CHECK_GT(step, 0) << "KV commit without a reserved step";
  if (seq.bounded()) {
    BoundedSlots& slots = *seq.bounded_;
    if (slots.per_head()) {
      CHECK(sums != nullptr && sums->data != nullptr) << "h2o step without column sums";
      for (int64_t layer = 0; layer < options_.num_layers; ++layer) {
        for (int64_t i = 0; i < step; ++i) {
          const float* token = sums->data + layer * sums->layer_stride + sums->token_offsets[i];
          for (int64_t h = 0; h < options_.num_kv_heads; ++h) {
            slots.AddScores(slots.MapOf(layer, h),
                            {token + h * sums->scan_length, static_cast<size_t>(sums->scan_length)});
          }
        }
      }
    }
    seq.evicted_tokens_ += slots.Evict(seq.num_tokens_ + step - 1);
    seq.step_slots_.clear();
  }
  seq.num_tokens_ += step;
  seq.step_tokens_ = 0;
  if (!seq.bounded() && options_.prefix_caching) PublishFullBlocks(seq);
}

void KvCacheManager::PublishFullBlocks(SequenceKv& seq) {
  const int64_t bs = options_.block_size;
  const int64_t full = seq.num_tokens_ / bs;
  for (int64_t b = seq.hashed_blocks_; b < full; ++b) {
    const BlockId id = ChildBlockId(
        seq.chain_tail_, absl::MakeConstSpan(seq.token_ids_).subspan(b * bs, bs));
    pool_.Publish(seq.blocks_[b], id, seq.tenant_);
    seq.chain_tail_ = id;
  }
  seq.hashed_blocks_ = std::max(seq.hashed_blocks_, full);
}

void KvCacheManager::Release(SequenceKv& seq) {
  pool_.Free(seq.blocks_);
  seq.blocks_.clear();
  seq.step_tokens_ = 0;
  seq.step_slots_.clear();
  seq.swapped_blocks_ = 0;
}

void KvCacheManager::SwapOut(SequenceKv& seq) {
  CHECK_EQ(seq.step_tokens_, 0) << "swap-out with a reserved step";
  CHECK(!seq.blocks_.empty()) << "swap-out of a sequence without blocks";
  const int64_t num_blocks = static_cast<int64_t>(seq.blocks_.size());
  Release(seq);
  seq.swapped_blocks_ = num_blocks;
}

int64_t KvCacheManager::BlocksNeededToSwapIn(const SequenceKv& seq, int64_t count) const {
  const int64_t bs = options_.block_size;
  const int64_t held = seq.swapped_blocks_;
  if (seq.bounded()) {
    const int64_t missing = count - seq.bounded_->free_slots();
    return held + (missing <= 0 ? 0 : (missing + bs - 1) / bs);
  }
  // Swapped-in blocks are private: no copy-on-write.
  return std::max(held, (seq.num_tokens_ + count + bs - 1) / bs);
}

bool KvCacheManager::SwapIn(SequenceKv& seq,
                            const std::function<bool(int32_t block, size_t index)>& fill) {
  CHECK(seq.swapped()) << "swap-in of a sequence that is not swapped out";
  std::optional<std::vector<int32_t>> blocks = pool_.TryAllocate(seq.swapped_blocks_);
  if (!blocks.has_value()) return false;
  for (size_t i = 0; i < blocks->size(); ++i) {
    if (!fill((*blocks)[i], i)) {
      pool_.Free(*blocks);
      return false;
    }
  }
  seq.blocks_ = *std::move(blocks);
  seq.swapped_blocks_ = 0;
  return true;
}

KvUsage KvCacheManager::Usage(const SequenceKv& seq) const {
  KvUsage usage;
  usage.tokens_held = seq.tokens_held();
  usage.blocks = static_cast<int64_t>(seq.blocks_.size());
  usage.formula_bytes = usage.tokens_held * options_.formula_bytes_per_token;
  usage.scale_bytes = usage.tokens_held * options_.scale_bytes_per_token;
  usage.allocated_bytes = usage.blocks * options_.bytes_per_block;
  return usage;
}

int64_t KvCacheManager::InstallPrefixBlocks(
    absl::string_view tenant, absl::Span<const BlockId> ids,
    const std::function<bool(int32_t block, size_t index)>& fill) {
  int64_t installed = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (pool_.Find(ids[i]).has_value()) continue;
    std::optional<std::vector<int32_t>> block = pool_.TryAllocate(1);
    if (!block.has_value()) break;
    if (!fill((*block)[0], i)) {
      pool_.Free(*block);
      break;
    }
    pool_.Publish((*block)[0], ids[i], tenant);
    pool_.Free(*block);  // cached: findable until an allocation reuses it
    ++installed;
  }
  return installed;
}

}  // namespace gqa
