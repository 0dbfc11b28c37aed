// Writes into and copies within a paged KV cache (params.h PagedKvView) on
// the CPU: the step's new K/V rows go into their slots (WriteKv), whole
// blocks are copied for copy-on-write (CopyKvBlocks). Used by CpuBackend.
// Thread-compatible: calls writing the same blocks must not overlap.
#ifndef GQA_WORKER_BACKEND_CPU_KV_WRITE_H_
#define GQA_WORKER_BACKEND_CPU_KV_WRITE_H_

#include "absl/status/status.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

// Stores each token's K and V rows, every KV head, into its slot
// (slot_mapping), or each (token, KV head) row into its own slot when
// head_slot_mapping is given. f16 and bf16 round to nearest even. FP8 rows
// are stored as described on PagedKvView: per (token, KV head) scale =
// max|x| / max finite (nudged up so that no finite x overflows; 1 for an
// all-zero row), codes = saturating(x / scale). Non-finite inputs: the scale
// comes from the finite elements only, an inf is stored as +-max finite
// (decoding to about +-max finite |x| of its row), and a NaN stays NaN (as in
// the other dtypes), so finite inputs never put NaN or inf in the cache.
// INVALID_ARGUMENT, writing nothing, for a slot outside the cache or an FP8
// cache without k_scale / v_scale.
absl::Status WriteKv(const KvWriteParams& params);

// Copies K, V and (FP8) the scales of every KV head of each source block into
// its destination block. INVALID_ARGUMENT, copying nothing, for a block id
// outside [0, num_blocks), a destination that is also a source (of any pair)
// or the destination of two pairs, or an FP8 cache without scales.
absl::Status CopyKvBlocks(const KvCopyParams& params);

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_KV_WRITE_H_
