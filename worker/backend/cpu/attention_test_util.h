// Test helpers for the CPU attention tests: a paged cache of several
// sequences written through WriteKv with blocks in shuffled order, its
// stored values read back exactly, and a naive double-precision attention
// over contiguous per-sequence rows that implements AttentionParams'
// visibility rule independently of attention.cc. Test-only; not thread-safe.
#ifndef GQA_WORKER_BACKEND_CPU_ATTENTION_TEST_UTIL_H_
#define GQA_WORKER_BACKEND_CPU_ATTENTION_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <vector>

#include "worker/backend/params.h"

namespace gqa::cpu::test {

std::vector<float> RandomVector(int64_t n, std::mt19937& rng, float stddev = 1.0f);

// Sequence s owns slots [0, seq_slots[s]) through its row of block_tables;
// unused slots hold huge finite poison, so reading one fails the comparison.
struct TestCache {
  DType dtype = DType::kF32;
  int64_t kv_heads = 0, dim = 0, block_size = 0, num_blocks = 0, max_blocks = 0;
  std::vector<uint8_t> k, v;            // raw storage
  std::vector<float> k_scale, v_scale;  // FP8 only
  std::vector<int32_t> block_tables;    // [num_seqs, max_blocks]
  std::vector<int64_t> seq_slots;
  std::vector<std::vector<float>> k_in;  // [seq][slot, kv_head, dim]: what was written
  std::vector<std::vector<float>> v_in;

  PagedKvView View();
  int64_t num_seqs() const { return static_cast<int64_t>(seq_slots.size()); }
};

// Random N(0, 1) K/V rows (times `stddev`) written by WriteKv.
TestCache BuildCache(DType dtype, int64_t kv_heads, int64_t dim, int64_t block_size,
                     const std::vector<int64_t>& seq_slots, std::mt19937& rng);

// The stored rows of sequence s, [slot, kv_head, dim], decoded exactly
// (FP8: code value x scale in double).
std::vector<double> StoredRows(const TestCache& cache, int64_t seq, bool keys);

// The arrays behind an AttentionParams; empty vectors become nullptr.
struct Batch {
  std::vector<float> q, q_sink, out;
  std::vector<int32_t> seq_idx, context_lens, query_positions, num_sinks, recent_window;
  std::vector<SlotPositions> slot_positions;
  std::vector<float> column_sums;
  std::vector<int64_t> column_sum_offsets;

  // Sizes out (zeros) and wires every array in.
  AttentionParams Params(TestCache& cache, int64_t q_heads);
};

struct Reference {
  std::vector<double> out;                       // [tokens, q_heads, dim]
  std::vector<std::vector<double>> column_sums;  // [token][kv_head * context + slot]
};

// Naive attention of p's tokens over per-sequence rows ([seq][slot, kv_head,
// dim], as StoredRows or the written inputs).
Reference NaiveAttention(const AttentionParams& p, const std::vector<std::vector<double>>& k_rows,
                         const std::vector<std::vector<double>>& v_rows);

// Rows of every sequence: the stored ones, or the written inputs.
std::vector<std::vector<double>> AllStoredRows(const TestCache& cache, bool keys);
std::vector<std::vector<double>> AllInputRows(const TestCache& cache, bool keys);

}  // namespace gqa::cpu::test

#endif  // GQA_WORKER_BACKEND_CPU_ATTENTION_TEST_UTIL_H_
