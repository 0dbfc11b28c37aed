#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "worker/backend/cuda/cuda_ops.h"

namespace gqa::cuda {
namespace {

constexpr int kBlocksPerSm = 4;
constexpr int kMinSplitLen = 128;  // slots: shorter splits cost more to merge than they gain
constexpr int kMaxSplits = 256;

// The checks of the CPU backend's attention.cc that need no device memory;
// the rest (sequence indices, context lengths, block ids, policy values)
// happen in the kernel (device_errors.h).
absl::Status ValidateOnHost(const AttentionParams& p) {
  const PagedKvView& cache = p.cache;
  if (cache.num_kv_heads <= 0 || p.num_q_heads <= 0 || p.num_q_heads % cache.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention: ", p.num_q_heads,
                                                   " query heads are not a multiple of ",
                                                   cache.num_kv_heads, " KV heads"));
  }
  if (cache.head_dim <= 0 || cache.block_size <= 0 || DTypeSize(cache.dtype) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention: bad cache head_dim=", cache.head_dim,
                                                   " block_size=", cache.block_size));
  }
  if (IsFp8(cache.dtype) && (cache.k_scale == nullptr || cache.v_scale == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: ", DTypeName(cache.dtype), " cache without k_scale/v_scale"));
  }
  if (p.slot_positions != nullptr && p.query_positions == nullptr) {
    return absl::InvalidArgumentError(
        "attention: slot_positions without query_positions; pass each token's position");
  }
  if ((p.column_sums == nullptr) != (p.column_sum_offsets == nullptr)) {
    return absl::InvalidArgumentError(
        "attention: column_sums and column_sum_offsets must be given together");
  }
  if (p.num_tokens < 0 || (p.num_tokens > 0 && (p.num_seqs <= 0 || p.max_blocks_per_seq <= 0))) {
    return absl::InvalidArgumentError(absl::StrCat("attention: bad batch num_tokens=", p.num_tokens,
                                                   " num_seqs=", p.num_seqs,
                                                   " max_blocks_per_seq=", p.max_blocks_per_seq));
  }
  if (p.num_tokens > 0 &&
      (p.q == nullptr || p.out == nullptr || p.seq_idx == nullptr || p.context_lens == nullptr ||
       p.block_tables == nullptr || cache.k == nullptr || cache.v == nullptr)) {
    return absl::InvalidArgumentError("attention: a required pointer is null");
  }
  return absl::OkStatus();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

AttentionPlan PlanAttention(const AttentionParams& p, int num_sms, int query_tile) {
  AttentionPlan plan;
  plan.group = p.num_q_heads / p.cache.num_kv_heads;
  plan.num_group_tiles = CeilDiv(plan.group, kAttentionGroupTile);
  plan.max_context = p.max_blocks_per_seq * p.cache.block_size;
  plan.min_split_len = kMinSplitLen;
  if (query_tile == 0 && p.num_tokens > p.num_seqs && plan.group <= kAttentionGroupTile / 2) {
    plan.query_tile = static_cast<int>(kAttentionGroupTile / plan.group);
  }
  const int64_t items = plan.query_tile > 1 ? CeilDiv(p.num_tokens, plan.query_tile)
                                            : p.num_tokens * plan.num_group_tiles;
  const int64_t work = std::max<int64_t>(1, items * p.cache.num_kv_heads);
  const int64_t wanted = CeilDiv(static_cast<int64_t>(std::max(num_sms, 1)) * kBlocksPerSm, work);
  const int64_t useful = CeilDiv(plan.max_context, kMinSplitLen);
  plan.num_splits = static_cast<int>(std::clamp<int64_t>(std::min(wanted, useful), 1, kMaxSplits));
  return plan;
}

absl::Status RunAttention(const AttentionParams& p, int num_sms, int query_tile, Scratch& scratch,
                          DeviceErrorWord errors, cudaStream_t stream) {
  if (absl::Status status = ValidateOnHost(p); !status.ok()) return status;
  if (p.num_tokens == 0) return absl::OkStatus();
  AttentionPlan plan = PlanAttention(p, num_sms, query_tile);
  const int64_t rows = p.num_tokens * p.num_q_heads;
  const int64_t split_floats =
      plan.num_splits > 1 ? rows * plan.num_splits * (p.cache.head_dim + 2) : 0;
  const int64_t sum_floats = p.column_sums != nullptr ? rows * (plan.max_context + 2) : 0;
  if (split_floats + sum_floats > 0) {
    auto base = scratch.Get((split_floats + sum_floats) * static_cast<int64_t>(sizeof(float)));
    if (!base.ok()) return base.status();
    float* cursor = static_cast<float*>(*base);
    if (split_floats > 0) {
      plan.partial_acc = cursor;
      plan.partial_ml = cursor + rows * plan.num_splits * p.cache.head_dim;
      cursor += split_floats;
    }
    if (sum_floats > 0) {
      plan.scores = cursor;
      plan.stats = cursor + rows * plan.max_context;
    }
  }
  return LaunchPagedAttention(p, plan, errors, stream);
}

}  // namespace gqa::cuda
