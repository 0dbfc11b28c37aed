// Plain parameter structs for the Backend ops (backend.h). Both backends take
// the same structs; pointers are host memory for the CPU backend and device
// memory for the CUDA backend. Every pointer names its shape. Borrowed views:
// valid for the duration of the call.
#ifndef GQA_WORKER_BACKEND_PARAMS_H_
#define GQA_WORKER_BACKEND_PARAMS_H_

#include <cstdint>

#include "core/dtype.h"
#include "core/model_config.h"
#include "worker/backend/weight_format.h"

namespace gqa {

// y = x W^T (+ y when accumulate): a linear layer over a batch of tokens.
struct GemmParams {
  const float* x = nullptr;  // [num_tokens, w.cols]
  WeightView w;              // [out_features = w.rows, in_features = w.cols]
  float* y = nullptr;        // [num_tokens, w.rows]
  int64_t num_tokens = 0;
  bool accumulate = false;   // add into y (residual connections) instead of overwriting
};

// out[t] = dequantized row token_ids[t] of the embedding table.
struct EmbeddingParams {
  WeightView table;                    // [vocab, hidden]
  const int32_t* token_ids = nullptr;  // [num_tokens], each in [0, table.rows)
  float* out = nullptr;                // [num_tokens, hidden]
  int64_t num_tokens = 0;
};

// y = x / rms(x) * weight, per token.
struct RmsNormParams {
  const float* x = nullptr;       // [num_tokens, dim]
  const float* weight = nullptr;  // [dim]
  float* y = nullptr;             // [num_tokens, dim]; may alias x
  int64_t num_tokens = 0;
  int64_t dim = 0;
  float eps = 1e-5f;
};

// Rotary position embedding, in place, on the heads of q and k.
struct RopeParams {
  float* q = nullptr;                  // [num_tokens, num_q_heads, head_dim]
  float* k = nullptr;                  // [num_tokens, num_kv_heads, head_dim]
  const int32_t* positions = nullptr;  // [num_tokens]: the rotation position of each token
  int64_t num_tokens = 0;
  int64_t num_q_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double theta = 10000.0;
  RopeScaling scaling;
  // true: rotate pairs (2i, 2i+1) (GGUF "normal" llama layout, the Q/K weights
  // permuted by the converter); false: pairs (i, i + head_dim/2) (Hugging Face).
  bool interleaved_pairs = true;
};

// dst[i] = src[rows[i]] for rows of `width` floats. A row index outside
// [0, num_src_rows) is INVALID_ARGUMENT on the CPU; the CUDA backend writes
// zeros for it and reports it from the next Synchronize().
struct GatherRowsParams {
  const float* src = nullptr;     // [num_src_rows, width]
  const int32_t* rows = nullptr;  // [num_rows]
  float* dst = nullptr;           // [num_rows, width]; must not overlap src
  int64_t num_src_rows = 0;
  int64_t num_rows = 0;
  int64_t width = 0;
};

// out = silu(gate) * up, elementwise.
struct SwiGluParams {
  const float* gate = nullptr;  // [num_tokens, dim]
  const float* up = nullptr;    // [num_tokens, dim]
  float* out = nullptr;         // [num_tokens, dim]; may alias gate
  int64_t num_tokens = 0;
  int64_t dim = 0;
};

// One rank's paged KV cache for one layer: fixed-size blocks of block_size
// token slots. Slot s lives in block s / block_size at offset s % block_size.
//   k, v:               [num_blocks, num_kv_heads, block_size, head_dim] of dtype
//   k_scale, v_scale:   [num_blocks, num_kv_heads, block_size] f32 (FP8 only)
// FP8 caches store x / scale with saturation, one scale per (token, KV head)
// for K and one for V, computed when the token is written: scale =
// max|x| / max finite of the dtype (1 for an all-zero row).
struct PagedKvView {
  void* k = nullptr;
  void* v = nullptr;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
  DType dtype = DType::kF32;
  int64_t num_blocks = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_size = 16;
};

// Stores the step's new keys and values into their cache slots.
struct KvWriteParams {
  const float* k = nullptr;              // [num_tokens, num_kv_heads, head_dim]
  const float* v = nullptr;              // [num_tokens, num_kv_heads, head_dim]
  const int64_t* slot_mapping = nullptr; // [num_tokens]: destination slot of each token
  int64_t num_tokens = 0;
  PagedKvView cache;
  // Optional: a destination slot per (token, KV head), [num_tokens,
  // num_kv_heads], used instead of slot_mapping (h2o evicts per KV head, so
  // each head reuses its own free slots).
  const int64_t* head_slot_mapping = nullptr;
};

// Copies whole blocks (every KV head, K, V and scales): copy-on-write of a
// shared block before a sequence writes into it.
struct KvCopyParams {
  PagedKvView cache;
  const int32_t* src_blocks = nullptr;  // [num_pairs]
  const int32_t* dst_blocks = nullptr;  // [num_pairs]; distinct from every source
  int64_t num_pairs = 0;
};

// Where a sequence's cache slots hold which token positions, for the bounded
// policies (streaming, window, h2o) whose slots are reused after eviction.
// Slot s of KV head h holds the token at position positions[h * head_stride
// + s], or -1 when the slot is empty. positions == nullptr: slot s holds
// position s (the full policy).
struct SlotPositions {
  const int32_t* positions = nullptr;  // [num_kv_heads or 1, >= context_lens of the sequence]
  int64_t head_stride = 0;             // 0: every KV head shares one map
};

// Causal attention of each query token over its sequence's cached tokens.
// Token t belongs to sequence s = seq_idx[t] and scans that sequence's cache
// slots [0, context_lens[t]), read through its block table. A slot holding
// position pos is visible to a query at position p = query_positions[t] when
//   0 <= pos <= p, and
//   pos < num_sinks[s] (an attention sink), or recent_window[s] == 0, or
//   p - pos < recent_window[s].
// Without query_positions every scanned slot is visible (the full policy,
// where context_lens[t] = p + 1). One code path serves MHA, GQA and MQA:
// every K/V tile is read once for the whole group of query heads sharing it.
struct AttentionParams {
  const float* q = nullptr;              // [num_tokens, num_q_heads, head_dim]
  float* out = nullptr;                  // [num_tokens, num_q_heads, head_dim]
  const int32_t* seq_idx = nullptr;      // [num_tokens]
  const int32_t* context_lens = nullptr; // [num_tokens]: slots scanned by each token
  const int32_t* block_tables = nullptr; // [num_seqs, max_blocks_per_seq]
  int64_t num_seqs = 0;
  int64_t max_blocks_per_seq = 0;
  int64_t num_tokens = 0;
  int64_t num_q_heads = 0;               // query heads of this rank
  PagedKvView cache;                     // cache.num_kv_heads: KV heads of this rank
  float softmax_scale = 0.0f;            // usually 1/sqrt(head_dim)

  // Bounded policies (all optional; nullptr = not used).
  const int32_t* query_positions = nullptr;      // [num_tokens]; required with slot_positions
  const SlotPositions* slot_positions = nullptr; // [num_seqs]
  const int32_t* num_sinks = nullptr;            // [num_seqs]
  const int32_t* recent_window = nullptr;        // [num_seqs]
  // StreamingLLM: the queries rotated to their position in the cache rather
  // than in the text, scored against sink slots only (see docs/kv-cache.md).
  const float* q_sink = nullptr;                 // [num_tokens, num_q_heads, head_dim]
  // H2O: for each token with column_sum_offsets[t] >= 0, the attention each
  // scanned slot received, summed over the query heads of its KV head's
  // group, is written to column_sums[column_sum_offsets[t] + h *
  // context_lens[t] + slot] (0 for slots the token does not see).
  float* column_sums = nullptr;
  const int64_t* column_sum_offsets = nullptr;   // [num_tokens]
};

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_PARAMS_H_
