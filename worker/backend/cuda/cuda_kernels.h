// Host-side launchers of the CUDA backend's kernels (elementwise.cu,
// kv_cache.cu, attention.cu). Each checks the host-known shape, enqueues its
// kernels on `stream` and returns the launch status; device-side range
// errors go to `errors` (device_errors.h). Used by cuda_backend.cc only;
// includes CUDA headers. Thread-compatible (one stream per caller).
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_KERNELS_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "worker/backend/cuda/device_errors.h"
#include "worker/backend/params.h"

namespace gqa::cuda {

// The rotation frequencies of RoPE, computed on the host in double (the CPU
// backend's function), passed to the kernel by value.
constexpr int kMaxRopePairs = 256;  // head_dim <= 512
struct RopeFrequencies {
  double inv_freq[kMaxRopePairs];  // [head_dim / 2]
};

absl::Status LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);
absl::Status LaunchRope(const RopeParams& p, const RopeFrequencies& freq, cudaStream_t stream);
absl::Status LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream);
absl::Status LaunchAdd(float* x, const float* delta, int64_t n, cudaStream_t stream);
absl::Status LaunchEmbedding(const EmbeddingParams& p, DeviceErrorWord errors, cudaStream_t stream);
// GatherRowsParams (params.h): one block per output row; a bad row index is
// recorded in `errors` and its output row zeroed.
absl::Status LaunchGatherRows(const GatherRowsParams& p, DeviceErrorWord errors,
                              cudaStream_t stream);
// out [w.rows, w.cols] f32, packed: the dequantized weight.
absl::Status LaunchDequantizeWeight(const WeightView& w, float* out, cudaStream_t stream);
// out [n] of 16-bit floats (bf16 when `bf16`, else f16), rounded to nearest even.
absl::Status LaunchConvertToHalf(const float* x, int64_t n, bool bf16, void* out,
                                 cudaStream_t stream);
// token_ids[r] = argmax of logits row r, ties to the lowest id; NaN never wins.
absl::Status LaunchArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int32_t* token_ids,
                              cudaStream_t stream);

absl::Status LaunchWriteKv(const KvWriteParams& p, DeviceErrorWord errors, cudaStream_t stream);
absl::Status LaunchCopyKvBlocks(const KvCopyParams& p, DeviceErrorWord errors, cudaStream_t stream);

// Query heads one attention thread block serves (4 warps x 8 heads each):
// groups up to this size read every K/V tile once; larger groups (MQA with
// more than 32 query heads) take several group tiles, each reading the tile.
constexpr int kAttentionGroupTile = 32;

// How one PagedAttention call is split (attention_plan.h computes it on the
// host from host-known numbers only) and the scratch it writes.
struct AttentionPlan {
  int num_splits = 1;  // thread blocks per (token, KV head, group tile) along the context
  // Query tokens per thread block: 1 is the decode kernel (one token, up to
  // 32 heads); more is the prefill kernel (query_tile tokens x group heads
  // <= 32 rows, consecutive tokens of one sequence sharing each K/V tile).
  int query_tile = 1;
  int min_split_len = 128;  // slots; each token splits its own context into >= this
  int64_t group = 1;        // query heads per KV head
  int64_t num_group_tiles = 1;
  int64_t max_context = 0;       // max_blocks_per_seq * block_size
  float* partial_acc = nullptr;  // [num_tokens, num_q_heads, num_splits, head_dim] (splits > 1)
  float* partial_ml = nullptr;   // [num_tokens, num_q_heads, num_splits, 2] (splits > 1)
  float* scores = nullptr;       // [num_tokens, num_q_heads, max_context] (column sums only)
  float* stats = nullptr;        // [num_tokens, num_q_heads, 2]: final max and sum (column sums)
};

// REQUIRES: p passed the host checks in cuda_backend.cc; the plan's buffers
// are as large as documented above. UNIMPLEMENTED for a head_dim outside
// the dispatch list (dispatch.h).
absl::Status LaunchPagedAttention(const AttentionParams& p, const AttentionPlan& plan,
                                  DeviceErrorWord errors, cudaStream_t stream);

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_KERNELS_H_
