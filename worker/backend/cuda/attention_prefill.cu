// The query-tiled paged attention kernel, for prefill chunks: one thread
// block serves (query tile, KV head, split), where the tile is up to
// query_tile consecutive tokens of the batch. Consecutive tokens of one
// sequence (a run) share every K/V tile they read: rows = (token, head of
// the group), at most 32, spread over 4 warps exactly as the decode kernel
// spreads heads (attention.cu), with each row's own visibility (its context
// length, query position, sinks and window). A tile whose tokens belong to
// several sequences is handled run by run. Split states, merge and column
// sums are the decode kernel's (attention_common.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "worker/backend/cuda/attention_common.cuh"
#include "worker/backend/cuda/cuda_status.h"

namespace gqa::cuda::attention {
namespace {

constexpr int kMaxQueryTile = kAttentionGroupTile;  // group 1: 32 tokens x 1 head

template <typename T, int D>
constexpr size_t PrefillSharedBytes() {
  using L = Layout<T, D>;
  return SharedBytes<T, D>(kAttentionGroupTile) + kMaxQueryTile * (kTile + 4) * sizeof(int) +
         kTile * sizeof(int);
}

// Per-token values of the run being processed, in shared memory.
struct RunTokens {
  int* context;     // [query_tile]
  int* position;    // [query_tile]
  int* wants_sums;  // [query_tile]
  int* flags;       // [query_tile, kTile]: kSeen | kSink of each (token, slot)
  int* any_seen;    // [kTile]: some token of the run sees the slot
};

// Writes the empty state of rows [first_row, first_row + rows) of tokens
// starting at token t0 (row r: token t0 + r / group, head r % group).
__device__ void WriteEmptyRows(const KernelParams& kp, int64_t t0, int64_t kv_head, int rows,
                               int D) {
  const AttentionParams& p = kp.a;
  const int64_t group = kp.plan.group;
  const int splits = gridDim.y;
  for (int i = threadIdx.x; i < rows * D; i += blockDim.x) {
    const int r = i / D;
    const int64_t t = t0 + r / group, qh = kv_head * group + r % group;
    const int64_t row = t * p.num_q_heads + qh;
    if (splits == 1) {
      p.out[row * D + i % D] = 0.0f;
      if (kp.plan.stats != nullptr && i % D == 0) {
        kp.plan.stats[row * 2] = -INFINITY;
        kp.plan.stats[row * 2 + 1] = 0.0f;
      }
    } else {
      const int64_t base = row * splits + blockIdx.y;
      kp.plan.partial_acc[base * D + i % D] = 0.0f;
      if (i % D == 0) {
        kp.plan.partial_ml[base * 2] = -INFINITY;
        kp.plan.partial_ml[base * 2 + 1] = 0.0f;
      }
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) PrefillKernel(const __grid_constant__ KernelParams kp) {
  using L = Layout<T, D>;
  const AttentionParams& p = kp.a;
  const PagedKvView& cache = p.cache;
  extern __shared__ uint4 smem_words[];
  float* q_s = reinterpret_cast<float*>(smem_words);                    // [32 rows, D]
  float* qs_s = q_s + kAttentionGroupTile * D;                          // [32 rows, D]
  char* k_s = reinterpret_cast<char*>(qs_s + kAttentionGroupTile * D);  // [kTile, kPitch]
  char* v_s = k_s + kTile * L::kPitch;
  float* k_scale_s = reinterpret_cast<float*>(v_s + kTile * L::kPitch);
  float* v_scale_s = k_scale_s + kTile;
  long long* row_s = reinterpret_cast<long long*>(v_scale_s + kTile);
  int* unused_flag_s = reinterpret_cast<int*>(row_s + kTile);
  RunTokens run{unused_flag_s + kTile, nullptr, nullptr, nullptr, nullptr};
  run.position = run.context + kMaxQueryTile;
  run.wants_sums = run.position + kMaxQueryTile;
  run.any_seen = run.wants_sums + kMaxQueryTile;
  run.flags = run.any_seen + kTile;

  const int64_t kv_heads = cache.num_kv_heads, group = kp.plan.group;
  const int64_t kv_head = blockIdx.x % kv_heads;
  const int64_t tile_begin = blockIdx.x / kv_heads * kp.plan.query_tile;
  const int64_t tile_end = std::min<int64_t>(p.num_tokens, tile_begin + kp.plan.query_tile);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int splits = gridDim.y;
  const bool reporter = kv_head == 0 && blockIdx.y == 0 && tid == 0;

  for (int64_t r0 = tile_begin; r0 < tile_end;) {
    // The run: r0 and the following tokens of the same sequence.
    const TokenView first = ReadToken(kp, r0, kv_head, reporter);
    if (!first.ok) {
      WriteEmptyRows(kp, r0, kv_head, static_cast<int>(group), D);
      __syncthreads();
      ++r0;
      continue;
    }
    int64_t r1 = r0 + 1;
    int max_context = first.context;
    while (r1 < tile_end && p.seq_idx[r1] == first.seq) {
      const TokenView next = ReadToken(kp, r1, kv_head, reporter);
      if (!next.ok) break;
      max_context = max(max_context, next.context);
      ++r1;
    }
    const int tokens = static_cast<int>(r1 - r0);
    const int rows = tokens * static_cast<int>(group);
    if (tid < tokens) {
      const TokenView v = ReadToken(kp, r0 + tid, kv_head, false);
      run.context[tid] = v.context;
      run.position[tid] = static_cast<int>(v.query_position);
      run.wants_sums[tid] = v.wants_sums;
    }
    int64_t split_len = (max_context + splits - 1) / splits;
    split_len = std::max<int64_t>(kp.plan.min_split_len, (split_len + kTile - 1) / kTile * kTile);
    const int64_t begin = blockIdx.y * split_len;
    const int64_t end = std::min<int64_t>(max_context, begin + split_len);
    const int64_t q_offset = (r0 * p.num_q_heads + kv_head * group) * D;
    for (int i = tid; i < rows * D; i += kThreads) {
      const int r = i / D;  // token r / group, head r % group of this KV head
      const int64_t src = q_offset + (r / group) * p.num_q_heads * D + (r % group) * D + i % D;
      q_s[i] = p.q[src];
      qs_s[i] = first.sink_queries ? p.q_sink[src] : 0.0f;
    }
    __syncthreads();
    if (begin >= end) {
      WriteEmptyRows(kp, r0, kv_head, rows, D);
      __syncthreads();
      r0 = r1;
      continue;
    }
    const int32_t* table = p.block_tables + first.seq * p.max_blocks_per_seq;

    float m[kHeadsPerWarp], l[kHeadsPerWarp], acc[kHeadsPerWarp][L::kLaneElems];
#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      m[i] = -INFINITY;
      l[i] = 0.0f;
#pragma unroll
      for (int e = 0; e < L::kLaneElems; ++e) acc[i][e] = 0.0f;
    }

    for (int64_t start = begin; start < end; start += kTile) {
      const int n = static_cast<int>(std::min<int64_t>(kTile, end - start));
      if (tid < kTile) {
        long long row = -1;
        if (tid < n) {
          const int64_t slot = start + tid;
          const int32_t block = table[slot / cache.block_size];
          if (block < 0 || block >= cache.num_blocks) {
            RecordDeviceError(kp.errors, DeviceErrorCode::kBlockOutOfRange, r0, block,
                              cache.num_blocks);
          } else {
            row = (block * kv_heads + kv_head) * cache.block_size + slot % cache.block_size;
          }
        }
        row_s[tid] = row;
      }
      __syncthreads();
      for (int i = tid; i < tokens * kTile; i += kThreads) {
        const int tl = i / kTile, j = i % kTile;
        const int64_t slot = start + j;
        int flag = 0;
        if (j < n && row_s[j] >= 0 && slot < run.context[tl]) {
          TokenView v = first;
          v.query_position = run.position[tl];
          flag = SlotFlags(v, first.positions != nullptr ? first.positions[slot] : slot);
        }
        run.flags[tl * kTile + j] = flag;
      }
      __syncthreads();
      int seen = 0;
      if (tid < kTile) {
        for (int tl = 0; tl < tokens; ++tl) seen |= run.flags[tl * kTile + tid];
        run.any_seen[tid] = seen;
        const long long row = row_s[tid];
        k_scale_s[tid] = kIsFp8<T> && seen != 0 ? cache.k_scale[row] : 1.0f;
        v_scale_s[tid] = kIsFp8<T> && seen != 0 ? cache.v_scale[row] : 1.0f;
      }
      if (!__syncthreads_or(seen)) {
        for (int r = warp; r < rows; r += kWarps) {
          const int64_t t = r0 + r / group;
          if (run.wants_sums[r / group] && lane < n) {
            kp.plan.scores[(t * p.num_q_heads + kv_head * group + r % group) * kp.plan.max_context +
                           start + lane] = -INFINITY;
          }
        }
        continue;
      }
      for (int c = tid; c < kTile * L::kChunks; c += kThreads) {
        const int r = c / L::kChunks, col = c % L::kChunks;
        uint4 kw = make_uint4(0, 0, 0, 0), vw = make_uint4(0, 0, 0, 0);
        if (run.any_seen[r] != 0) {
          const long long byte = row_s[r] * L::kRowBytes + col * 16;
          kw = *reinterpret_cast<const uint4*>(static_cast<const char*>(cache.k) + byte);
          vw = *reinterpret_cast<const uint4*>(static_cast<const char*>(cache.v) + byte);
        }
        *reinterpret_cast<uint4*>(k_s + r * L::kPitch + col * 16) = kw;
        *reinterpret_cast<uint4*>(v_s + r * L::kPitch + col * 16) = vw;
      }
      __syncthreads();
#pragma unroll
      for (int i = 0; i < kHeadsPerWarp; ++i) {
        const int r = warp + i * kWarps;
        if (r >= rows) break;
        const int tl = r / static_cast<int>(group);
        const int flag = run.flags[tl * kTile + lane];
        float s = -INFINITY;
        if (flag != 0) {
          const float* q_row = ((flag & kSink) != 0 ? qs_s : q_s) + r * D;
          const char* k_row = k_s + lane * L::kPitch;
          float dot = 0.0f;
          for (int c = 0; c < L::kChunks; ++c) {
            const Pack<T, L::kPerChunk> k =
                *reinterpret_cast<const Pack<T, L::kPerChunk>*>(k_row + c * 16);
#pragma unroll
            for (int e = 0; e < L::kPerChunk; e += 4) {
              const float4 q4 = *reinterpret_cast<const float4*>(q_row + c * L::kPerChunk + e);
              dot += q4.x * ToFloat(k.v[e]) + q4.y * ToFloat(k.v[e + 1]) +
                     q4.z * ToFloat(k.v[e + 2]) + q4.w * ToFloat(k.v[e + 3]);
            }
          }
          s = dot * (k_scale_s[lane] * p.softmax_scale);
        }
        if (run.wants_sums[tl] && lane < n) {
          const int64_t t = r0 + tl;
          kp.plan.scores[(t * p.num_q_heads + kv_head * group + r % group) * kp.plan.max_context +
                         start + lane] = s;
        }
        const float m_new = fmaxf(m[i], WarpMax(s));
        if (m_new == -INFINITY) continue;
        const float rescale = expf(m[i] - m_new);
        const float prob = flag != 0 ? expf(s - m_new) : 0.0f;
        l[i] = l[i] * rescale + WarpSum(prob);
        const float weight = prob * v_scale_s[lane];
#pragma unroll
        for (int e = 0; e < L::kLaneElems; ++e) acc[i][e] *= rescale;
        for (int j = 0; j < n; ++j) {
          const float w = __shfl_sync(kFullMask, weight, j);
          const Pack<T, L::kLaneElems> vv = *reinterpret_cast<const Pack<T, L::kLaneElems>*>(
              v_s + j * L::kPitch + lane * L::kLaneElems * static_cast<int>(sizeof(T)));
#pragma unroll
          for (int e = 0; e < L::kLaneElems; ++e) acc[i][e] += w * ToFloat(vv.v[e]);
        }
        m[i] = m_new;
      }
      __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      const int r = warp + i * kWarps;
      if (r >= rows) break;
      const int64_t t = r0 + r / group, qh = kv_head * group + r % group;
      const int64_t row = t * p.num_q_heads + qh;
      if (splits == 1) {
        const float inverse = l[i] == 0.0f ? 0.0f : 1.0f / l[i];
        float* out = p.out + row * D + lane * L::kLaneElems;
#pragma unroll
        for (int e = 0; e < L::kLaneElems; ++e) out[e] = acc[i][e] * inverse;
        if (kp.plan.stats != nullptr && lane == 0) {
          kp.plan.stats[row * 2] = m[i];
          kp.plan.stats[row * 2 + 1] = l[i];
        }
      } else {
        const int64_t base = row * splits + blockIdx.y;
        float* part = kp.plan.partial_acc + base * D + lane * L::kLaneElems;
#pragma unroll
        for (int e = 0; e < L::kLaneElems; ++e) part[e] = acc[i][e];
        if (lane == 0) {
          kp.plan.partial_ml[base * 2] = m[i];
          kp.plan.partial_ml[base * 2 + 1] = l[i];
        }
      }
    }
    __syncthreads();  // the next run reuses the shared arrays
    r0 = r1;
  }
}

template <typename T, int D>
absl::Status Launch(const AttentionParams& p, const AttentionPlan& plan, DeviceErrorWord errors,
                    cudaStream_t stream) {
  const KernelParams kp{p, plan, errors, kAttentionGroupTile};
  const size_t shared = PrefillSharedBytes<T, D>();
  if (shared > 48 * 1024) {
    GQA_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(PrefillKernel<T, D>,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  static_cast<int>(shared)));
  }
  const int64_t tiles = (p.num_tokens + plan.query_tile - 1) / plan.query_tile;
  const dim3 grid(static_cast<unsigned>(tiles * p.cache.num_kv_heads),
                  static_cast<unsigned>(plan.num_splits));
  PrefillKernel<T, D><<<grid, kThreads, shared, stream>>>(kp);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return LaunchEpilogue(p, plan, stream);
}

}  // namespace

absl::Status LaunchPrefill(const AttentionParams& p, const AttentionPlan& plan,
                           DeviceErrorWord errors, cudaStream_t stream) {
  return DispatchHeadDim(p.cache.head_dim, "attention", [&](auto dim) {
    return DispatchKvDType(p.cache.dtype, "attention", [&](auto tag) {
      return Launch<typename decltype(tag)::type, decltype(dim)::value>(p, plan, errors, stream);
    });
  });
}

}  // namespace gqa::cuda::attention
