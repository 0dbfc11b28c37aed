#include "worker/backend/cpu/attention.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "worker/backend/cpu/attention_kernels.h"
#include "worker/backend/cpu/attention_task.h"

namespace gqa::cpu {
namespace {

absl::Status ValidateBoundedPolicy(const AttentionParams& p) {
  if (p.slot_positions != nullptr && p.query_positions == nullptr) {
    return absl::InvalidArgumentError(
        "attention: slot_positions without query_positions; pass each token's position");
  }
  if ((p.column_sums == nullptr) != (p.column_sum_offsets == nullptr)) {
    return absl::InvalidArgumentError(
        "attention: column_sums and column_sum_offsets must be given together");
  }
  for (int64_t s = 0; s < p.num_seqs; ++s) {
    const int64_t sinks = p.num_sinks != nullptr ? p.num_sinks[s] : 0;
    const int64_t window = p.recent_window != nullptr ? p.recent_window[s] : 0;
    const int64_t stride = p.slot_positions != nullptr ? p.slot_positions[s].head_stride : 0;
    if (sinks < 0 || window < 0 || stride < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention: sequence ", s, " has num_sinks=", sinks,
                       " recent_window=", window, " head_stride=", stride,
                       "; none may be "
                       "negative"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAttention(const AttentionParams& p) {
  const PagedKvView& cache = p.cache;
  if (cache.num_kv_heads <= 0 || p.num_q_heads % cache.num_kv_heads != 0) {
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
  if (absl::Status status = ValidateBoundedPolicy(p); !status.ok()) return status;
  const int64_t max_context = p.max_blocks_per_seq * cache.block_size;
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    if (p.seq_idx[t] < 0 || p.seq_idx[t] >= p.num_seqs) {
      return absl::InvalidArgumentError(absl::StrCat("attention: token ", t, " sequence index ",
                                                     p.seq_idx[t], " outside [0, ", p.num_seqs,
                                                     ")"));
    }
    if (p.context_lens[t] <= 0 || p.context_lens[t] > max_context) {
      return absl::InvalidArgumentError(absl::StrCat("attention: token ", t, " context length ",
                                                     p.context_lens[t], " outside [1, ",
                                                     max_context, "]"));
    }
    const int32_t* table = p.block_tables + p.seq_idx[t] * p.max_blocks_per_seq;
    const int64_t used_blocks = (p.context_lens[t] + cache.block_size - 1) / cache.block_size;
    for (int64_t b = 0; b < used_blocks; ++b) {
      if (table[b] < 0 || table[b] >= cache.num_blocks) {
        return absl::InvalidArgumentError(absl::StrCat("attention: block table entry ", table[b],
                                                       " outside the cache's ", cache.num_blocks,
                                                       " blocks"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RunAttention(const AttentionParams& params, ThreadPool& pool, bool allow_simd) {
  if (absl::Status status = ValidateAttention(params); !status.ok()) return status;
  const AttentionKernels kernels =
      SelectAttentionKernels(params.cache.dtype, params.cache.head_dim, allow_simd);
  const int64_t kv_heads = params.cache.num_kv_heads;
  pool.ParallelFor(params.num_tokens * kv_heads, 1, [&](int64_t begin, int64_t end) {
    thread_local TaskScratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      AttendGroup(params, kernels, task / kv_heads, task % kv_heads, scratch);
    }
    scratch.Trim();
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status PagedAttention(const AttentionParams& params, ThreadPool& pool) {
  return RunAttention(params, pool, /*allow_simd=*/true);
}

namespace internal {
absl::Status PagedAttentionForTesting(const AttentionParams& params, ThreadPool& pool,
                                      bool allow_simd) {
  return RunAttention(params, pool, allow_simd);
}
}  // namespace internal

}  // namespace gqa::cpu
