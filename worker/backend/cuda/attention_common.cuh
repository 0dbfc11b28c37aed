// Device pieces shared by the paged attention kernels (attention.cu for
// decode, attention_prefill.cu for query tiles): tile geometry, the kernel
// params, warp reductions, and reading one token's inputs with the
// visibility rule of AttentionParams. Included by cuda/attention*.cu only.
#ifndef GQA_WORKER_BACKEND_CUDA_ATTENTION_COMMON_CUH_
#define GQA_WORKER_BACKEND_CUDA_ATTENTION_COMMON_CUH_

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/cuda/dispatch.h"

namespace gqa::cuda::attention {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kTile = 32;  // slots per K/V tile: one per lane
constexpr int kHeadsPerWarp = kAttentionGroupTile / kWarps;
constexpr int kSeen = 1, kSink = 2;
constexpr unsigned kFullMask = 0xffffffffu;

struct KernelParams {
  AttentionParams a;
  AttentionPlan plan;
  DeviceErrorWord errors;
  int tile_heads;  // min(group, kAttentionGroupTile): heads whose queries shared memory holds
};

template <typename T, int kCount>
struct alignas(kCount * sizeof(T) >= 16 ? 16 : kCount * sizeof(T)) Pack {
  T v[kCount];
};

template <typename T, int D>
struct Layout {
  static constexpr int kRowBytes = D * static_cast<int>(sizeof(T));
  static constexpr int kPitch = kRowBytes + 16;  // padding: lanes reading rows hit distinct banks
  static constexpr int kChunks = kRowBytes / 16;
  static constexpr int kPerChunk = 16 / static_cast<int>(sizeof(T));
  static constexpr int kLaneElems = D / 32;
  static_assert(kRowBytes % 16 == 0 && D % 32 == 0, "head_dim must fill 16-byte chunks");
};

template <typename T, int D>
constexpr size_t SharedBytes(int tile_heads) {
  using L = Layout<T, D>;
  return size_t{2} * tile_heads * D * sizeof(float) + size_t{2} * kTile * L::kPitch +
         kTile * (2 * sizeof(float) + sizeof(long long) + sizeof(int));
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// What one block needs to know about its token, or ok = false.
struct TokenView {
  bool ok = false;
  int32_t seq = 0;
  int32_t context = 0;
  bool everything = true;
  int64_t query_position = 0;
  int64_t num_sinks = 0;
  int64_t recent_window = 0;
  const int32_t* positions = nullptr;  // slot -> position, or nullptr
  bool sink_queries = false;
  bool wants_sums = false;
};

// Reads and checks the token's inputs; `report` says whether this block records errors.
__device__ inline TokenView ReadToken(const KernelParams& kp, int64_t t, int64_t kv_head,
                                      bool report) {
  const AttentionParams& p = kp.a;
  TokenView v;
  v.seq = p.seq_idx[t];
  if (v.seq < 0 || v.seq >= p.num_seqs) {
    if (report)
      RecordDeviceError(kp.errors, DeviceErrorCode::kSeqIdxOutOfRange, t, v.seq, p.num_seqs);
    return v;
  }
  v.context = p.context_lens[t];
  if (v.context <= 0 || v.context > kp.plan.max_context) {
    if (report) {
      RecordDeviceError(kp.errors, DeviceErrorCode::kContextLenOutOfRange, t, v.context,
                        kp.plan.max_context);
    }
    return v;
  }
  v.num_sinks = p.num_sinks != nullptr ? p.num_sinks[v.seq] : 0;
  v.everything = p.query_positions == nullptr;
  if (!v.everything) {
    v.query_position = p.query_positions[t];
    v.recent_window = p.recent_window != nullptr ? p.recent_window[v.seq] : 0;
    if (p.slot_positions != nullptr) {
      const SlotPositions map = p.slot_positions[v.seq];
      if (map.head_stride < 0) {
        if (report)
          RecordDeviceError(kp.errors, DeviceErrorCode::kNegativePolicyValue, v.seq, -1, -1);
        return v;
      }
      if (map.positions != nullptr) v.positions = map.positions + kv_head * map.head_stride;
    }
  }
  if (v.num_sinks < 0 || v.recent_window < 0) {
    if (report) {
      RecordDeviceError(kp.errors, DeviceErrorCode::kNegativePolicyValue, v.seq, v.num_sinks,
                        v.recent_window);
    }
    return v;
  }
  v.sink_queries = p.q_sink != nullptr && v.num_sinks > 0;
  v.wants_sums = p.column_sums != nullptr && p.column_sum_offsets[t] >= 0;
  v.ok = true;
  return v;
}

// kSeen | kSink for a slot holding position `pos` (the rule on AttentionParams).
__device__ __forceinline__ int SlotFlags(const TokenView& v, int64_t pos) {
  const bool seen =
      v.everything ||
      (pos >= 0 && pos <= v.query_position &&
       (pos < v.num_sinks || v.recent_window == 0 || v.query_position - pos < v.recent_window));
  if (!seen) return 0;
  return kSeen | (v.sink_queries && pos >= 0 && pos < v.num_sinks ? kSink : 0);
}

// The merge of split states and the h2o column sums, after either kernel
// (attention.cu).
absl::Status LaunchEpilogue(const AttentionParams& p, const AttentionPlan& plan,
                            cudaStream_t stream);

// The query-tiled kernel (attention_prefill.cu), for plan.query_tile > 1.
absl::Status LaunchPrefill(const AttentionParams& p, const AttentionPlan& plan,
                           DeviceErrorWord errors, cudaStream_t stream);

}  // namespace gqa::cuda::attention

#endif  // GQA_WORKER_BACKEND_CUDA_ATTENTION_COMMON_CUH_
