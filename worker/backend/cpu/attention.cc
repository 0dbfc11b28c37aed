#include "worker/backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/half.h"

namespace gqa::cpu {
namespace {

void StoreElement(void* base, int64_t idx, DType dtype, float value) {
  switch (dtype) {
    case DType::kF32:
      static_cast<float*>(base)[idx] = value;
      break;
    case DType::kF16:
      static_cast<uint16_t*>(base)[idx] = FloatToHalf(value);
      break;
    case DType::kBF16:
      static_cast<uint16_t*>(base)[idx] = FloatToBf16(value);
      break;
    default:
      break;
  }
}

bool CpuReads(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// Element index of (slot, kv head, dim 0) in a [blocks, heads, block_size, dim] cache.
int64_t CacheIndex(const PagedKvView& cache, int64_t slot, int64_t kv_head) {
  const int64_t block = slot / cache.block_size;
  const int64_t offset = slot % cache.block_size;
  return ((block * cache.num_kv_heads + kv_head) * cache.block_size + offset) * cache.head_dim;
}

// `count` cache elements starting at element `begin`, as floats: read in
// place for f32, converted into `scratch` otherwise.
const float* LoadTile(const void* base, int64_t begin, int64_t count, DType dtype,
                      float* scratch) {
  float* out = scratch;
  switch (dtype) {
    case DType::kF32:
      return static_cast<const float*>(base) + begin;
    case DType::kF16:
      DecodeF16({static_cast<const uint16_t*>(base) + begin, static_cast<size_t>(count)},
                {out, static_cast<size_t>(count)});
      break;
    case DType::kBF16:
      DecodeBf16({static_cast<const uint16_t*>(base) + begin, static_cast<size_t>(count)},
                 {out, static_cast<size_t>(count)});
      break;
    default:
      break;
  }
  return out;
}

// dot(a, b) over n floats with eight interleaved partial sums, added in a
// fixed tree: the same order on every call (and vectorizable).
float Dot(const float* a, const float* b, int64_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) lanes[i % 8] += a[i] * b[i];
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
         ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

// Attention of one query token's group of heads over one KV head.
void AttendGroup(const AttentionParams& p, int64_t token, int64_t kv_head,
                 std::vector<float>& scratch) {
  const PagedKvView& cache = p.cache;
  const int64_t dim = cache.head_dim;
  const int64_t group = p.num_q_heads / cache.num_kv_heads;
  const int64_t block_size = cache.block_size;
  const int64_t context = p.context_lens[token];
  const int32_t* table = p.block_tables + p.seq_idx[token] * p.max_blocks_per_seq;
  const float* q = p.q + (token * p.num_q_heads + kv_head * group) * dim;  // [group, dim]

  scratch.assign(group * (dim + block_size + 2) + 2 * block_size * dim, 0.0f);
  float* acc = scratch.data();                       // [group, dim]
  float* scores = acc + group * dim;                 // [group, block_size]
  float* running_max = scores + group * block_size;  // [group]
  float* running_sum = running_max + group;          // [group]
  float* k_scratch = running_sum + group;            // [block_size, dim]
  float* v_scratch = k_scratch + block_size * dim;   // [block_size, dim]
  std::fill(running_max, running_max + group, -std::numeric_limits<float>::infinity());

  for (int64_t start = 0; start < context; start += block_size) {
    const int64_t n = std::min(block_size, context - start);
    const int64_t base = CacheIndex(cache, table[start / block_size] * block_size, kv_head);
    // The block's keys and values are read once for the whole group.
    const float* k_tile = LoadTile(cache.k, base, n * dim, cache.dtype, k_scratch);
    const float* v_tile = LoadTile(cache.v, base, n * dim, cache.dtype, v_scratch);
    for (int64_t h = 0; h < group; ++h) {
      float* head_scores = scores + h * block_size;
      float block_max = running_max[h];
      for (int64_t j = 0; j < n; ++j) {
        head_scores[j] = Dot(q + h * dim, k_tile + j * dim, dim) * p.softmax_scale;
        block_max = std::max(block_max, head_scores[j]);
      }
      // Online softmax: rescale what came before to the new maximum.
      const float rescale = std::exp(running_max[h] - block_max);
      running_max[h] = block_max;
      running_sum[h] *= rescale;
      float* head_acc = acc + h * dim;
      for (int64_t d = 0; d < dim; ++d) head_acc[d] *= rescale;
      for (int64_t j = 0; j < n; ++j) {
        const float weight = std::exp(head_scores[j] - block_max);
        running_sum[h] += weight;
        const float* v_row = v_tile + j * dim;
        for (int64_t d = 0; d < dim; ++d) head_acc[d] += weight * v_row[d];
      }
    }
  }
  float* out = p.out + (token * p.num_q_heads + kv_head * group) * dim;
  for (int64_t h = 0; h < group; ++h) {
    const float inverse = running_sum[h] > 0.0f ? 1.0f / running_sum[h] : 0.0f;
    for (int64_t d = 0; d < dim; ++d) out[h * dim + d] = acc[h * dim + d] * inverse;
  }
}

absl::Status ValidateAttention(const AttentionParams& p) {
  const PagedKvView& cache = p.cache;
  if (cache.num_kv_heads <= 0 || p.num_q_heads % cache.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("attention: ", p.num_q_heads,
                                                   " query heads are not a multiple of ",
                                                   cache.num_kv_heads, " KV heads"));
  }
  if (!CpuReads(cache.dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("CPU attention: KV dtype ", DTypeName(cache.dtype), " not supported"));
  }
  const int64_t max_context = p.max_blocks_per_seq * cache.block_size;
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    if (p.seq_idx[t] < 0 || p.seq_idx[t] >= p.num_seqs) {
      return absl::InvalidArgumentError(absl::StrCat("attention: token ", t, " sequence index ",
                                                     p.seq_idx[t], " outside [0, ", p.num_seqs, ")"));
    }
    if (p.context_lens[t] <= 0 || p.context_lens[t] > max_context) {
      return absl::InvalidArgumentError(absl::StrCat("attention: token ", t, " context length ",
                                                     p.context_lens[t], " outside [1, ",
                                                     max_context, "]"));
    }
    const int32_t* table = p.block_tables + p.seq_idx[t] * p.max_blocks_per_seq;
    const int64_t used_blocks = (p.context_lens[t] + cache.block_size - 1) / cache.block_size;
    for (int64_t b = 0; b < used_blocks; ++b) {
      if (table[b] < 0 || table[b] >= cache.num_blocks) {
        return absl::InvalidArgumentError(absl::StrCat("attention: block table entry ", table[b],
                                                       " outside the cache's ", cache.num_blocks,
                                                       " blocks"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PagedAttention(const AttentionParams& params, ThreadPool& pool) {
  if (absl::Status status = ValidateAttention(params); !status.ok()) return status;
  const int64_t kv_heads = params.cache.num_kv_heads;
  pool.ParallelFor(params.num_tokens * kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t task = begin; task < end; ++task) {
      AttendGroup(params, task / kv_heads, task % kv_heads, scratch);
    }
  });
  return absl::OkStatus();
}

absl::Status WriteKv(const KvWriteParams& params) {
  const PagedKvView& cache = params.cache;
  if (!CpuReads(cache.dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("CPU KV write: KV dtype ", DTypeName(cache.dtype), " not supported"));
  }
  const int64_t num_slots = cache.num_blocks * cache.block_size;
  const int64_t row = cache.num_kv_heads * cache.head_dim;
  for (int64_t t = 0; t < params.num_tokens; ++t) {
    const int64_t slot = params.slot_mapping[t];
    if (slot < 0 || slot >= num_slots) {
      return absl::InvalidArgumentError(
          absl::StrCat("KV write: slot ", slot, " outside the cache's ", num_slots, " slots"));
    }
    for (int64_t h = 0; h < cache.num_kv_heads; ++h) {
      const int64_t dst = CacheIndex(cache, slot, h);
      for (int64_t d = 0; d < cache.head_dim; ++d) {
        StoreElement(cache.k, dst + d, cache.dtype, params.k[t * row + h * cache.head_dim + d]);
        StoreElement(cache.v, dst + d, cache.dtype, params.v[t * row + h * cache.head_dim + d]);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gqa::cpu
