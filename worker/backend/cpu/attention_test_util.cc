#include "worker/backend/cpu/attention_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/fp8.h"
#include "core/half.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/kv_write.h"

namespace gqa::cpu::test {

std::vector<float> RandomVector(int64_t n, std::mt19937& rng, float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> x(n);
  for (float& value : x) value = dist(rng);
  return x;
}

PagedKvView TestCache::View() {
  const bool fp8 = IsFp8(dtype);
  return PagedKvView{k.data(),
                     v.data(),
                     fp8 ? k_scale.data() : nullptr,
                     fp8 ? v_scale.data() : nullptr,
                     dtype,
                     num_blocks,
                     kv_heads,
                     dim,
                     block_size};
}

namespace {

// Huge but finite in every dtype: a kernel reading an unused slot fails.
void Poison(TestCache& cache) {
  const int64_t elems = cache.num_blocks * cache.kv_heads * cache.block_size * cache.dim;
  for (std::vector<uint8_t>* bytes : {&cache.k, &cache.v}) {
    bytes->assign(elems * DTypeSize(cache.dtype), 0);
    for (int64_t i = 0; i < elems; ++i) {
      uint8_t* at = bytes->data() + i * DTypeSize(cache.dtype);
      switch (cache.dtype) {
        case DType::kF32: {
          const float poison = 1e9f;
          std::memcpy(at, &poison, 4);
          break;
        }
        case DType::kF16:  // 65504
          at[0] = 0xFF;
          at[1] = 0x7B;
          break;
        case DType::kBF16:  // 3.4e38
          at[0] = 0x7F;
          at[1] = 0x7F;
          break;
        default:
          at[0] = 0x7E;  // the largest finite code
      }
    }
  }
  cache.k_scale.assign(cache.num_blocks * cache.kv_heads * cache.block_size, 1e9f);
  cache.v_scale = cache.k_scale;
}

double StoredValue(const TestCache& cache, bool keys, int64_t index, int64_t scale_index) {
  const uint8_t* at = (keys ? cache.k : cache.v).data() + index * DTypeSize(cache.dtype);
  uint16_t bits;
  switch (cache.dtype) {
    case DType::kF32: {
      float value;
      std::memcpy(&value, at, 4);
      return value;
    }
    case DType::kF16:
      std::memcpy(&bits, at, 2);
      return HalfToFloat(bits);
    case DType::kBF16:
      std::memcpy(&bits, at, 2);
      return Bf16ToFloat(bits);
    case DType::kFp8E4M3:
    case DType::kFp8E5M2: {
      const double code =
          cache.dtype == DType::kFp8E4M3 ? Fp8E4M3ToFloat(*at) : Fp8E5M2ToFloat(*at);
      return code * (keys ? cache.k_scale : cache.v_scale)[scale_index];
    }
  }
  return 0.0;
}

}  // namespace

TestCache BuildCache(DType dtype, int64_t kv_heads, int64_t dim, int64_t block_size,
                     const std::vector<int64_t>& seq_slots, std::mt19937& rng) {
  TestCache cache;
  cache.dtype = dtype;
  cache.kv_heads = kv_heads;
  cache.dim = dim;
  cache.block_size = block_size;
  cache.seq_slots = seq_slots;
  int64_t total_blocks = 0;
  for (const int64_t slots : seq_slots) {
    const int64_t blocks = (slots + block_size - 1) / block_size;
    cache.max_blocks = std::max(cache.max_blocks, blocks);
    total_blocks += blocks;
  }
  cache.num_blocks = total_blocks + 3;  // spare, poisoned blocks
  Poison(cache);
  std::vector<int32_t> order(cache.num_blocks);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  cache.block_tables.assign(seq_slots.size() * cache.max_blocks, -1);
  int64_t next = 0;
  for (size_t s = 0; s < seq_slots.size(); ++s) {
    const int64_t slots = seq_slots[s];
    std::vector<int64_t> slot_mapping(slots);
    for (int64_t b = 0; b * block_size < slots; ++b) {
      cache.block_tables[s * cache.max_blocks + b] = order[next++];
    }
    for (int64_t i = 0; i < slots; ++i) {
      slot_mapping[i] =
          cache.block_tables[s * cache.max_blocks + i / block_size] * block_size + i % block_size;
    }
    cache.k_in.push_back(RandomVector(slots * kv_heads * dim, rng));
    cache.v_in.push_back(RandomVector(slots * kv_heads * dim, rng));
    const KvWriteParams write{cache.k_in.back().data(), cache.v_in.back().data(),
                              slot_mapping.data(), slots, cache.View()};
    EXPECT_TRUE(WriteKv(write).ok());
  }
  return cache;
}

std::vector<double> StoredRows(const TestCache& cache, int64_t seq, bool keys) {
  const int64_t slots = cache.seq_slots[seq];
  std::vector<double> rows(slots * cache.kv_heads * cache.dim);
  for (int64_t i = 0; i < slots; ++i) {
    const int64_t block = cache.block_tables[seq * cache.max_blocks + i / cache.block_size];
    for (int64_t h = 0; h < cache.kv_heads; ++h) {
      const int64_t scale_index =
          (block * cache.kv_heads + h) * cache.block_size + i % cache.block_size;
      for (int64_t d = 0; d < cache.dim; ++d) {
        rows[(i * cache.kv_heads + h) * cache.dim + d] =
            StoredValue(cache, keys, scale_index * cache.dim + d, scale_index);
      }
    }
  }
  return rows;
}

std::vector<std::vector<double>> AllStoredRows(const TestCache& cache, bool keys) {
  std::vector<std::vector<double>> rows;
  for (int64_t s = 0; s < cache.num_seqs(); ++s) rows.push_back(StoredRows(cache, s, keys));
  return rows;
}

std::vector<std::vector<double>> AllInputRows(const TestCache& cache, bool keys) {
  std::vector<std::vector<double>> rows;
  for (const std::vector<float>& in : keys ? cache.k_in : cache.v_in) {
    rows.emplace_back(in.begin(), in.end());
  }
  return rows;
}

AttentionParams Batch::Params(TestCache& cache, int64_t q_heads) {
  const int64_t tokens = static_cast<int64_t>(seq_idx.size());
  out.assign(tokens * q_heads * cache.dim, 0.0f);
  auto ptr = [](auto& v) { return v.empty() ? nullptr : v.data(); };
  AttentionParams p;
  p.q = q.data();
  p.out = out.data();
  p.seq_idx = seq_idx.data();
  p.context_lens = context_lens.data();
  p.block_tables = cache.block_tables.data();
  p.num_seqs = cache.num_seqs();
  p.max_blocks_per_seq = cache.max_blocks;
  p.num_tokens = tokens;
  p.num_q_heads = q_heads;
  p.cache = cache.View();
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(cache.dim));
  p.query_positions = ptr(query_positions);
  p.slot_positions = ptr(slot_positions);
  p.num_sinks = ptr(num_sinks);
  p.recent_window = ptr(recent_window);
  p.q_sink = ptr(q_sink);
  p.column_sums = ptr(column_sums);
  p.column_sum_offsets = ptr(column_sum_offsets);
  return p;
}

Reference NaiveAttention(const AttentionParams& p, const std::vector<std::vector<double>>& k_rows,
                         const std::vector<std::vector<double>>& v_rows) {
  const int64_t kv_heads = p.cache.num_kv_heads, dim = p.cache.head_dim;
  const int64_t group = p.num_q_heads / kv_heads;
  Reference ref;
  ref.out.assign(p.num_tokens * p.num_q_heads * dim, 0.0);
  ref.column_sums.resize(p.num_tokens);
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    const int64_t s = p.seq_idx[t], context = p.context_lens[t];
    const int64_t sinks = p.num_sinks != nullptr ? p.num_sinks[s] : 0;
    const int64_t window = p.recent_window != nullptr ? p.recent_window[s] : 0;
    ref.column_sums[t].assign(kv_heads * context, 0.0);
    for (int64_t h = 0; h < p.num_q_heads; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> scores(context, -std::numeric_limits<double>::infinity());
      double max_score = -std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < context; ++i) {
        int64_t pos = i;
        if (p.slot_positions != nullptr && p.slot_positions[s].positions != nullptr) {
          pos = p.slot_positions[s].positions[kvh * p.slot_positions[s].head_stride + i];
        }
        if (p.query_positions != nullptr) {
          const int64_t qp = p.query_positions[t];
          const bool recent = window == 0 || qp - pos < window;
          if (pos < 0 || pos > qp || !(pos < sinks || recent)) continue;
        }
        const bool sink = p.q_sink != nullptr && pos >= 0 && pos < sinks;
        const float* q = (sink ? p.q_sink : p.q) + (t * p.num_q_heads + h) * dim;
        double dot = 0;
        for (int64_t d = 0; d < dim; ++d) dot += q[d] * k_rows[s][(i * kv_heads + kvh) * dim + d];
        scores[i] = dot * p.softmax_scale;
        max_score = std::max(max_score, scores[i]);
      }
      if (max_score == -std::numeric_limits<double>::infinity()) continue;  // sees nothing
      double total = 0;
      for (double& score : scores) total += (score = std::exp(score - max_score));
      for (int64_t i = 0; i < context; ++i) {
        const double prob = scores[i] / total;
        ref.column_sums[t][kvh * context + i] += prob;
        for (int64_t d = 0; d < dim; ++d) {
          ref.out[(t * p.num_q_heads + h) * dim + d] +=
              prob * v_rows[s][(i * kv_heads + kvh) * dim + d];
        }
      }
    }
  }
  return ref;
}

}  // namespace gqa::cpu::test
