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
};

// Causal attention of each query token over its sequence's cached tokens.
// Token t belongs to sequence seq_idx[t] and attends to that sequence's
// cache positions [0, context_lens[t]), read through its block table. One
// code path serves MHA, GQA and MQA: every K/V tile is read once for the
// whole group of query heads that shares it.
struct AttentionParams {
  const float* q = nullptr;              // [num_tokens, num_q_heads, head_dim]
  float* out = nullptr;                  // [num_tokens, num_q_heads, head_dim]
  const int32_t* seq_idx = nullptr;      // [num_tokens]
  const int32_t* context_lens = nullptr; // [num_tokens]: positions visible to each token
  const int32_t* block_tables = nullptr; // [num_seqs, max_blocks_per_seq]
  int64_t num_seqs = 0;
  int64_t max_blocks_per_seq = 0;
  int64_t num_tokens = 0;
  int64_t num_q_heads = 0;               // query heads of this rank
  PagedKvView cache;                     // cache.num_kv_heads: KV heads of this rank
  float softmax_scale = 0.0f;            // usually 1/sqrt(head_dim)
};

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_PARAMS_H_
