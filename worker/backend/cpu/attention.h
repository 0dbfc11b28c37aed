// CPU paged attention: one task per (query token, KV head) reads each K/V
// block of the sequence once and scores it against every query head of the
// group, with an online softmax over blocks in position order. Memory per
// task is O(group x head_dim + group x block_size) whatever the context.
// Thread-safe for distinct outputs.
#ifndef GQA_WORKER_BACKEND_CPU_ATTENTION_H_
#define GQA_WORKER_BACKEND_CPU_ATTENTION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "worker/backend/cpu/thread_pool.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

// INVALID_ARGUMENT when the query heads are not a multiple of the KV heads,
// a sequence index or context length is out of range; UNIMPLEMENTED for a
// cache dtype this CPU path does not read yet.
absl::Status PagedAttention(const AttentionParams& params, ThreadPool& pool);

// Writes the step's K/V rows into their slots. INVALID_ARGUMENT for a slot
// outside the cache.
absl::Status WriteKv(const KvWriteParams& params);

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_ATTENTION_H_
