// StepArrays: a step's index arrays (token ids, positions, sequence indices,
// context lengths, slot mappings, block tables, the bounded-policy arrays and
// slot maps, the logit rows) where the backend's ops can read them. On a
// backend whose memory is the host's (the CPU) they are the ForwardBatch's own
// vectors, not copied; otherwise they are packed into one host staging buffer
// and copied into one grow-only backend buffer per step, the slot maps'
// pointers rewritten to their copies. Thread-compatible: one engine thread.
#ifndef GQA_WORKER_ENGINE_STEP_ARRAYS_H_
#define GQA_WORKER_ENGINE_STEP_ARRAYS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "worker/backend/backend.h"
#include "worker/engine/forward_batch.h"

namespace gqa {

// Views of one step's arrays in backend memory. Null where the batch's array
// is empty. Valid until the next Upload.
struct StepArrayViews {
  const int32_t* token_ids = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* seq_idx = nullptr;
  const int32_t* context_lens = nullptr;
  const int64_t* slot_mapping = nullptr;
  const int32_t* block_tables = nullptr;
  const int32_t* logit_token_idx = nullptr;
  const int32_t* num_sinks = nullptr;
  const int32_t* recent_window = nullptr;
  const SlotPositions* slot_positions = nullptr;  // [num_layers, num_seqs]
  const int32_t* sink_positions = nullptr;
  const int64_t* head_slot_mapping = nullptr;
  const int64_t* column_sum_offsets = nullptr;
};

class StepArrays {
 public:
  // Makes `batch`'s arrays readable by `backend` (which must outlive this).
  // `num_kv_heads` is this rank's: a per-head slot map holds num_kv_heads
  // rows of head_stride slots; a sequence's map is copied as far as its
  // tokens scan, at most max_blocks_per_seq x `block_size` slots (the
  // cache's). REQUIRES: the batch passed Model::ValidateBatch (out-of-range
  // values inside the arrays are copied as they are, for the kernels to
  // report). RESOURCE_EXHAUSTED when the buffer cannot grow.
  absl::Status Upload(const ForwardBatch& batch, int64_t num_kv_heads, int64_t block_size,
                      Backend& backend);
  const StepArrayViews& views() const { return views_; }
  // Bytes copied to the backend by the last Upload (0 on host memory).
  int64_t uploaded_bytes() const { return uploaded_bytes_; }
  // How many times the backend buffer was replaced (captured steps point at it).
  int64_t generation() const { return generation_; }

 private:
  StepArrayViews views_;
  int64_t uploaded_bytes_ = 0;
  int64_t generation_ = 0;
  std::vector<uint8_t> staging_;
  std::unique_ptr<BackendBuffer> buffer_;  // grow-only
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_STEP_ARRAYS_H_
