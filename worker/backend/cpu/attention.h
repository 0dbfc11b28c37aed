// CPU paged attention (AttentionParams): one task per (query token, KV head)
// reads each K/V tile once for the whole group, in its stored dtype (FP8
// decoded tile by tile, no full-precision copy), with an online softmax in a
// fixed order (attention_task.h). Batch-invariant: a token's result never
// depends on its batch, prefill chunking, bounded-policy slot layout or the
// thread count. Thread-safe for distinct outputs.
#ifndef GQA_WORKER_BACKEND_CPU_ATTENTION_H_
#define GQA_WORKER_BACKEND_CPU_ATTENTION_H_

#include "absl/status/status.h"
#include "worker/backend/cpu/kv_write.h"
#include "worker/backend/cpu/thread_pool.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

// Attention as documented on AttentionParams. A query that sees no slot gets
// a zero output (and zero column sums). INVALID_ARGUMENT when the query heads
// are not a multiple of the KV heads, a sequence index, context length or
// block table entry is out of range, an FP8 cache has no scales,
// slot_positions comes without query_positions, only one of column_sums and
// column_sum_offsets is set, or num_sinks / recent_window / head_stride is
// negative.
absl::Status PagedAttention(const AttentionParams& params, ThreadPool& pool);

namespace internal {
// PagedAttention with the portable kernels forced when !allow_simd, so tests
// can check both kernel sets against the reference.
absl::Status PagedAttentionForTesting(const AttentionParams& params, ThreadPool& pool,
                                      bool allow_simd);
}  // namespace internal

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_ATTENTION_H_
