// Paged attention on the device (AttentionParams, as the CPU backend reads
// it). One thread block of 4 warps serves (query token, KV head, group tile,
// split): it walks its split of the token's context in tiles of 32 slots,
// loads each K/V tile once into shared memory in the stored dtype (FP8
// decoded in registers, scales applied to the score and to the value
// weight), and every warp then runs an online softmax for up to 8 query
// heads of the group (a run-time loop; lane j scores slot j, lane i owns
// head_dim/32 output elements). Splits of long contexts are merged by a
// second kernel from their (max, sum, unnormalized output); h2o column sums
// come from the per-slot scores and the merged (max, sum) in a third.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "worker/backend/cuda/attention_common.cuh"
#include "worker/backend/cuda/cuda_kernels.h"
#include "worker/backend/cuda/cuda_status.h"
#include "worker/backend/cuda/dispatch.h"

namespace gqa::cuda {
namespace {

using namespace attention;  // NOLINT: the shared kernel pieces

// Writes the state of a block that saw nothing (or whose token is bad).
__device__ void WriteEmpty(const KernelParams& kp, int64_t t, int64_t first_head, int heads,
                           int D) {
  const AttentionParams& p = kp.a;
  const int splits = gridDim.y;
  for (int i = threadIdx.x; i < heads * D; i += blockDim.x) {
    const int64_t qh = first_head + i / D;
    if (splits == 1) {
      p.out[(t * p.num_q_heads + qh) * D + i % D] = 0.0f;
    } else {
      const int64_t base = (t * p.num_q_heads + qh) * splits + blockIdx.y;
      kp.plan.partial_acc[base * D + i % D] = 0.0f;
      if (i % D == 0) {
        kp.plan.partial_ml[base * 2] = -INFINITY;
        kp.plan.partial_ml[base * 2 + 1] = 0.0f;
      }
    }
    if (splits == 1 && kp.plan.stats != nullptr && i % D == 0) {
      kp.plan.stats[(t * p.num_q_heads + qh) * 2] = -INFINITY;
      kp.plan.stats[(t * p.num_q_heads + qh) * 2 + 1] = 0.0f;
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    AttentionKernel(const __grid_constant__ KernelParams kp) {
  using L = Layout<T, D>;
  const AttentionParams& p = kp.a;
  const PagedKvView& cache = p.cache;
  extern __shared__ uint4 smem_words[];
  float* q_s = reinterpret_cast<float*>(smem_words);              // [tile_heads, D]
  float* qs_s = q_s + kp.tile_heads * D;                          // [tile_heads, D] (q_sink)
  char* k_s = reinterpret_cast<char*>(qs_s + kp.tile_heads * D);  // [kTile, kPitch]
  char* v_s = k_s + kTile * L::kPitch;                            // [kTile, kPitch]
  float* k_scale_s = reinterpret_cast<float*>(v_s + kTile * L::kPitch);
  float* v_scale_s = k_scale_s + kTile;
  long long* row_s = reinterpret_cast<long long*>(v_scale_s + kTile);
  int* flag_s = reinterpret_cast<int*>(row_s + kTile);

  const int64_t kv_heads = cache.num_kv_heads, group = kp.plan.group;
  const int64_t tiles = kp.plan.num_group_tiles;
  const int64_t gt = blockIdx.x % tiles;
  const int64_t kv_head = blockIdx.x / tiles % kv_heads;
  const int64_t t = blockIdx.x / tiles / kv_heads;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t first_head = kv_head * group + gt * kAttentionGroupTile;
  const int heads =
      static_cast<int>(std::min<int64_t>(kAttentionGroupTile, group - gt * kAttentionGroupTile));

  const bool reporter = tid == 0 && kv_head == 0 && gt == 0 && blockIdx.y == 0;
  const TokenView v = ReadToken(kp, t, kv_head, reporter);
  const int splits = gridDim.y;
  int64_t split_len = (v.context + splits - 1) / splits;
  split_len = std::max<int64_t>(kp.plan.min_split_len, (split_len + kTile - 1) / kTile * kTile);
  const int64_t begin = blockIdx.y * split_len;
  const int64_t end = std::min<int64_t>(v.context, begin + split_len);
  if (!v.ok || begin >= end) {
    WriteEmpty(kp, t, first_head, heads, D);
    return;
  }
  const int64_t q_offset = (t * p.num_q_heads + first_head) * D;
  for (int i = tid; i < heads * D; i += kThreads) {
    q_s[i] = p.q[q_offset + i];
    qs_s[i] = v.sink_queries ? p.q_sink[q_offset + i] : 0.0f;
  }
  const int32_t* table = p.block_tables + v.seq * p.max_blocks_per_seq;
  const bool flags_needed = !v.everything || v.sink_queries;

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
    int seen = 0;
    if (tid < kTile) {
      int flag = 0;
      long long row = 0;
      if (tid < n) {
        const int64_t slot = start + tid;
        const int32_t block = table[slot / cache.block_size];
        if (block < 0 || block >= cache.num_blocks) {
          RecordDeviceError(kp.errors, DeviceErrorCode::kBlockOutOfRange, t, block,
                            cache.num_blocks);
        } else {
          row = (block * kv_heads + kv_head) * cache.block_size + slot % cache.block_size;
          flag = flags_needed ? SlotFlags(v, v.positions != nullptr ? v.positions[slot] : slot)
                              : kSeen;
        }
      }
      flag_s[tid] = flag;
      row_s[tid] = row;
      k_scale_s[tid] = kIsFp8<T> && flag != 0 ? cache.k_scale[row] : 1.0f;
      v_scale_s[tid] = kIsFp8<T> && flag != 0 ? cache.v_scale[row] : 1.0f;
      seen = flag != 0;
    }
    if (!__syncthreads_or(seen)) {  // nobody sees this tile: do not read it
      if (v.wants_sums && lane < n) {
        for (int hh = warp; hh < heads; hh += kWarps) {
          kp.plan.scores[((t * p.num_q_heads) + first_head + hh) * kp.plan.max_context + start +
                         lane] = -INFINITY;
        }
      }
      continue;
    }
    for (int c = tid; c < kTile * L::kChunks; c += kThreads) {
      const int r = c / L::kChunks, col = c % L::kChunks;
      uint4 kw = make_uint4(0, 0, 0, 0), vw = make_uint4(0, 0, 0, 0);
      if (flag_s[r] != 0) {
        const long long byte = row_s[r] * L::kRowBytes + col * 16;
        kw = *reinterpret_cast<const uint4*>(static_cast<const char*>(cache.k) + byte);
        vw = *reinterpret_cast<const uint4*>(static_cast<const char*>(cache.v) + byte);
      }
      *reinterpret_cast<uint4*>(k_s + r * L::kPitch + col * 16) = kw;
      *reinterpret_cast<uint4*>(v_s + r * L::kPitch + col * 16) = vw;
    }
    __syncthreads();
    const int flag = flag_s[lane];
#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      const int hh = warp + i * kWarps;
      if (hh >= heads) break;
      float s = -INFINITY;
      if (flag != 0) {
        const float* q_row = ((flag & kSink) != 0 ? qs_s : q_s) + hh * D;
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
      if (v.wants_sums && lane < n) {
        kp.plan
            .scores[((t * p.num_q_heads) + first_head + hh) * kp.plan.max_context + start + lane] =
            s;
      }
      const float m_new = fmaxf(m[i], WarpMax(s));
      if (m_new == -INFINITY) continue;  // this head sees nothing in the tile yet
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
    const int hh = warp + i * kWarps;
    if (hh >= heads) break;
    const int64_t qh = first_head + hh;
    if (splits == 1) {
      const float inverse = l[i] == 0.0f ? 0.0f : 1.0f / l[i];
      float* out = p.out + (t * p.num_q_heads + qh) * D + lane * L::kLaneElems;
#pragma unroll
      for (int e = 0; e < L::kLaneElems; ++e) out[e] = acc[i][e] * inverse;
      if (kp.plan.stats != nullptr && lane == 0) {
        kp.plan.stats[(t * p.num_q_heads + qh) * 2] = m[i];
        kp.plan.stats[(t * p.num_q_heads + qh) * 2 + 1] = l[i];
      }
    } else {
      const int64_t base = (t * p.num_q_heads + qh) * splits + blockIdx.y;
      float* part = kp.plan.partial_acc + base * D + lane * L::kLaneElems;
#pragma unroll
      for (int e = 0; e < L::kLaneElems; ++e) part[e] = acc[i][e];
      if (lane == 0) {
        kp.plan.partial_ml[base * 2] = m[i];
        kp.plan.partial_ml[base * 2 + 1] = l[i];
      }
    }
  }
}

// One block of head_dim threads per (token, query head): merges the splits.
__global__ void MergeSplitsKernel(const float* partial_acc, const float* partial_ml, int splits,
                                  int head_dim, float* out, float* stats) {
  const int64_t row = blockIdx.x;
  const float* ml = partial_ml + row * splits * 2;
  float max_all = -INFINITY;
  for (int s = 0; s < splits; ++s) max_all = fmaxf(max_all, ml[2 * s]);
  float sum = 0.0f, value = 0.0f;
  if (max_all != -INFINITY) {
    for (int s = 0; s < splits; ++s) {
      if (ml[2 * s + 1] == 0.0f) continue;
      const float factor = expf(ml[2 * s] - max_all);
      sum += ml[2 * s + 1] * factor;
      value += partial_acc[(row * splits + s) * head_dim + threadIdx.x] * factor;
    }
  }
  out[row * head_dim + threadIdx.x] = value * (sum == 0.0f ? 0.0f : 1.0f / sum);
  if (stats != nullptr && threadIdx.x == 0) {
    stats[row * 2] = max_all;
    stats[row * 2 + 1] = sum;
  }
}

// One block per (token, KV head): the h2o column sums from scores and stats.
__global__ void ColumnSumsKernel(AttentionParams p, AttentionPlan plan) {
  const int64_t kv_heads = p.cache.num_kv_heads;
  const int64_t t = blockIdx.x / kv_heads, h = blockIdx.x % kv_heads;
  const int64_t offset = p.column_sum_offsets[t];
  const int32_t seq = p.seq_idx[t], context = p.context_lens[t];
  if (offset < 0 || seq < 0 || seq >= p.num_seqs || context <= 0 || context > plan.max_context) {
    return;  // the attention kernel reported a bad token
  }
  float* sums = p.column_sums + offset + h * context;
  for (int64_t slot = threadIdx.x; slot < context; slot += blockDim.x) {
    float sum = 0.0f;
    for (int64_t g = 0; g < plan.group; ++g) {
      const int64_t qh = t * p.num_q_heads + h * plan.group + g;
      const float max_all = plan.stats[qh * 2], total = plan.stats[qh * 2 + 1];
      if (total == 0.0f) continue;
      sum += expf(plan.scores[qh * plan.max_context + slot] - max_all) * (1.0f / total);
    }
    sums[slot] = sum;
  }
}

template <typename T, int D>
absl::Status Launch(const AttentionParams& p, const AttentionPlan& plan, DeviceErrorWord errors,
                    cudaStream_t stream) {
  KernelParams kp{p, plan, errors,
                  static_cast<int>(std::min<int64_t>(plan.group, kAttentionGroupTile))};
  const size_t shared = SharedBytes<T, D>(kp.tile_heads);
  if (shared > 48 * 1024) {
    GQA_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(AttentionKernel<T, D>,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  static_cast<int>(shared)));
  }
  const dim3 grid(static_cast<unsigned>(p.num_tokens * p.cache.num_kv_heads * plan.num_group_tiles),
                  static_cast<unsigned>(plan.num_splits));
  AttentionKernel<T, D><<<grid, kThreads, shared, stream>>>(kp);
  GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return LaunchEpilogue(p, plan, stream);
}

}  // namespace

namespace attention {

absl::Status LaunchEpilogue(const AttentionParams& p, const AttentionPlan& plan,
                            cudaStream_t stream) {
  const int dim = static_cast<int>(p.cache.head_dim);
  if (plan.num_splits > 1) {
    MergeSplitsKernel<<<static_cast<unsigned>(p.num_tokens * p.num_q_heads), dim, 0, stream>>>(
        plan.partial_acc, plan.partial_ml, plan.num_splits, dim, p.out, plan.stats);
    GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  }
  if (p.column_sums != nullptr) {
    ColumnSumsKernel<<<static_cast<unsigned>(p.num_tokens * p.cache.num_kv_heads), 256, 0,
                       stream>>>(p, plan);
    GQA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  }
  return absl::OkStatus();
}

}  // namespace attention

absl::Status LaunchPagedAttention(const AttentionParams& p, const AttentionPlan& plan,
                                  DeviceErrorWord errors, cudaStream_t stream) {
  if (p.num_tokens == 0) return absl::OkStatus();
  if (plan.query_tile > 1) return attention::LaunchPrefill(p, plan, errors, stream);
  return DispatchHeadDim(p.cache.head_dim, "attention", [&](auto dim) {
    return DispatchKvDType(p.cache.dtype, "attention", [&](auto tag) {
      return Launch<typename decltype(tag)::type, decltype(dim)::value>(p, plan, errors, stream);
    });
  });
}

}  // namespace gqa::cuda
