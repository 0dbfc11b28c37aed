// Mean-pooling of K/V projection heads: the GQA paper's (Ainslie et al.,
// 2023) conversion of a multi-head or grouped-query checkpoint to fewer KV
// heads, before uptraining. Used by `gqa convert --kv-heads`.
// Pure functions; thread-safe.
#ifndef GQA_WORKER_ENGINE_CONVERT_KV_HEAD_POOLING_H_
#define GQA_WORKER_ENGINE_CONVERT_KV_HEAD_POOLING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace gqa {

// OK when a model with `current_kv_heads` KV heads can be pooled down to
// `kv_heads`: 1 <= kv_heads <= current and kv_heads divides current.
// INVALID_ARGUMENT naming --kv-heads and the valid choices otherwise, e.g.
// "--kv-heads 2 does not divide the model's 3 KV heads; choose one of 1, 3".
absl::Status CheckKvHeads(int64_t current_kv_heads, int64_t kv_heads);

// Pools a K or V projection stored as rows of output features:
//   in:  [old_heads * head_dim, cols]   head i owns rows [i*head_dim, (i+1)*head_dim)
//   out: [new_heads * head_dim, cols]
// New head j is the element-wise mean of old heads j*r .. (j+1)*r - 1, where
// r = old_heads / new_heads, summed in that order in double and rounded once
// to float (so the mean of r identical heads is exactly that head).
//
// NOTE: contiguous runs of heads are pooled because the engine gives query
// head h the KV head h / group: the query heads of old heads j*r .. (j+1)*r-1
// are exactly the query heads of new head j, so each query head keeps reading
// (the mean of) the KV head it was trained with.
//
// A bias is the case cols == 1. REQUIRES: old_heads % new_heads == 0 and
// in.size() == old_heads * head_dim * cols (CHECKed).
std::vector<float> MeanPoolKvHeads(absl::Span<const float> in, int64_t cols, int64_t head_dim,
                                   int64_t old_heads, int64_t new_heads);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_CONVERT_KV_HEAD_POOLING_H_
