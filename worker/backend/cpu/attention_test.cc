#include "worker/backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "core/fp8.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/attention_test_util.h"

namespace gqa::cpu {
namespace {

using test::RandomVector;

// A paged cache whose blocks are handed out in a shuffled order, so that the
// test also checks block-table indirection.
struct F32Cache {
  std::vector<float> k, v;
  std::vector<int32_t> block_table;
  PagedKvView view;
};

F32Cache MakeCache(int64_t kv_heads, int64_t dim, int64_t tokens, int64_t block_size,
                    const std::vector<float>& k_rows, const std::vector<float>& v_rows,
                    std::mt19937& rng) {
  F32Cache cache;
  const int64_t blocks = (tokens + block_size - 1) / block_size + 2;  // spare blocks
  cache.k.assign(blocks * kv_heads * block_size * dim, 1e9f);       // poison unused slots
  cache.v.assign(cache.k.size(), 1e9f);
  std::vector<int32_t> order(blocks);
  for (int64_t i = 0; i < blocks; ++i) order[i] = static_cast<int32_t>(i);
  std::shuffle(order.begin(), order.end(), rng);
  cache.block_table.assign(order.begin(), order.begin() + (tokens + block_size - 1) / block_size);
  cache.view = PagedKvView{cache.k.data(), cache.v.data(), nullptr, nullptr, DType::kF32,
                           blocks, kv_heads, dim, block_size};
  std::vector<int64_t> slots(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    slots[t] = cache.block_table[t / block_size] * block_size + t % block_size;
  }
  KvWriteParams write{k_rows.data(), v_rows.data(), slots.data(), tokens, cache.view};
  EXPECT_TRUE(WriteKv(write).ok());
  return cache;
}

// Reference: plain softmax attention, query head h reading KV head kv_of(h).
std::vector<float> NaiveAttention(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t q_heads, int64_t kv_heads,
                                  int64_t dim, int64_t tokens, int64_t query_token_offset,
                                  int64_t num_queries) {
  const int64_t group = q_heads / kv_heads;
  std::vector<float> out(num_queries * q_heads * dim, 0.0f);
  for (int64_t qi = 0; qi < num_queries; ++qi) {
    const int64_t visible = query_token_offset + qi + 1;
    for (int64_t h = 0; h < q_heads; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> scores(visible);
      double max_score = -1e300;
      for (int64_t j = 0; j < visible; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < dim; ++d) {
          dot += q[(qi * q_heads + h) * dim + d] * k[(j * kv_heads + kvh) * dim + d];
        }
        scores[j] = dot / std::sqrt(static_cast<double>(dim));
        max_score = std::max(max_score, scores[j]);
      }
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - max_score));
      for (int64_t j = 0; j < visible; ++j) {
        for (int64_t d = 0; d < dim; ++d) {
          out[(qi * q_heads + h) * dim + d] +=
              static_cast<float>(scores[j] / total * v[(j * kv_heads + kvh) * dim + d]);
        }
      }
    }
  }
  return out;
}

std::vector<float> RunPaged(const std::vector<float>& q, const F32Cache& cache, int64_t q_heads,
                            int64_t tokens, int64_t num_queries, ThreadPool& pool) {
  const int64_t dim = cache.view.head_dim;
  std::vector<float> out(num_queries * q_heads * dim);
  std::vector<int32_t> seq_idx(num_queries, 0), context(num_queries);
  for (int64_t i = 0; i < num_queries; ++i) {
    context[i] = static_cast<int32_t>(tokens - num_queries + i + 1);
  }
  AttentionParams p;
  p.q = q.data();
  p.out = out.data();
  p.seq_idx = seq_idx.data();
  p.context_lens = context.data();
  p.block_tables = cache.block_table.data();
  p.num_seqs = 1;
  p.max_blocks_per_seq = static_cast<int64_t>(cache.block_table.size());
  p.num_tokens = num_queries;
  p.num_q_heads = q_heads;
  p.cache = cache.view;
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(dim));
  EXPECT_TRUE(PagedAttention(p, pool).ok());
  return out;
}

class GroupSizeTest : public ::testing::TestWithParam<int> {};

// GQA with group size G equals MHA over K/V heads repeated G times, and both
// equal the naive reference, for prefill-style (many queries) and decode.
TEST_P(GroupSizeTest, GqaEqualsMhaWithRepeatedKvHeads) {
  const int64_t group = GetParam();
  const int64_t kv_heads = group == 32 ? 1 : 2;
  const int64_t q_heads = kv_heads * group;
  const int64_t dim = 16, tokens = 37, block_size = 8, queries = 5;
  std::mt19937 rng(1234 + group);
  const auto k = RandomVector(tokens * kv_heads * dim, rng);
  const auto v = RandomVector(tokens * kv_heads * dim, rng);
  const auto q = RandomVector(queries * q_heads * dim, rng);
  // The same cache with each KV head repeated over its group (MHA layout).
  std::vector<float> k_mha(tokens * q_heads * dim), v_mha(k_mha.size());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < q_heads; ++h) {
      for (int64_t d = 0; d < dim; ++d) {
        k_mha[(t * q_heads + h) * dim + d] = k[(t * kv_heads + h / group) * dim + d];
        v_mha[(t * q_heads + h) * dim + d] = v[(t * kv_heads + h / group) * dim + d];
      }
    }
  }
  ThreadPool pool(2);
  const F32Cache gqa_cache = MakeCache(kv_heads, dim, tokens, block_size, k, v, rng);
  const F32Cache mha_cache = MakeCache(q_heads, dim, tokens, block_size, k_mha, v_mha, rng);
  const auto gqa = RunPaged(q, gqa_cache, q_heads, tokens, queries, pool);
  const auto mha = RunPaged(q, mha_cache, q_heads, tokens, queries, pool);
  const auto naive = NaiveAttention(q, k, v, q_heads, kv_heads, dim, tokens, tokens - queries, queries);
  ASSERT_EQ(gqa.size(), naive.size());
  for (size_t i = 0; i < gqa.size(); ++i) {
    ASSERT_EQ(gqa[i], mha[i]) << "element " << i;  // same arithmetic, bit-identical
    ASSERT_NEAR(gqa[i], naive[i], 2e-5f) << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroupSizes, GroupSizeTest, ::testing::Values(1, 2, 3, 4, 8, 9, 32));

TEST(AttentionTest, ResultDoesNotDependOnBatchOrThreads) {
  const int64_t kv_heads = 3, q_heads = 9, dim = 8, tokens = 40;
  std::mt19937 rng(7);
  const auto k = RandomVector(tokens * kv_heads * dim, rng);
  const auto v = RandomVector(tokens * kv_heads * dim, rng);
  const auto q = RandomVector(tokens * q_heads * dim, rng);
  const F32Cache cache = MakeCache(kv_heads, dim, tokens, 16, k, v, rng);
  ThreadPool one(1), two(2);
  const auto all = RunPaged(q, cache, q_heads, tokens, tokens, two);  // prefill of all tokens
  // The last token alone (a decode step) gives exactly the prefill's last row.
  const std::vector<float> last_q(q.end() - q_heads * dim, q.end());
  const auto decode = RunPaged(last_q, cache, q_heads, tokens, 1, one);
  for (int64_t i = 0; i < q_heads * dim; ++i) {
    ASSERT_EQ(decode[i], all[(tokens - 1) * q_heads * dim + i]);
  }
}

TEST(AttentionTest, RejectsBadShapesAndSlots) {
  std::vector<float> k(2 * 4 * 16), v(k.size()), q(4), out(4);
  PagedKvView view{k.data(), v.data(), nullptr, nullptr, DType::kF32, 2, 1, 4, 16};
  int64_t slot = 32;  // two blocks of 16: slots 0..31
  KvWriteParams write{q.data(), q.data(), &slot, 1, view};
  EXPECT_EQ(WriteKv(write).code(), absl::StatusCode::kInvalidArgument);

  int32_t seq = 0, context = 5, table[1] = {7};  // block 7 does not exist
  AttentionParams p;
  p.q = q.data();
  p.out = out.data();
  p.seq_idx = &seq;
  p.context_lens = &context;
  p.block_tables = table;
  p.num_seqs = 1;
  p.max_blocks_per_seq = 1;
  p.num_tokens = 1;
  p.num_q_heads = 1;
  p.cache = view;
  p.softmax_scale = 0.5f;
  ThreadPool pool(1);
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
  table[0] = 0;
  context = 17;  // beyond the one block in the table
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
  context = 5;
  p.num_q_heads = 3;
  p.cache.num_kv_heads = 2;
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
}

// ---- Every cache dtype against the naive reference ----
//
// Tolerances. Against the naive double-precision reference over the values
// the cache stores (StoredRows), the kernels' only error is f32 rounding: dot
// products of head_dim terms, an exp polynomial of about 1 ulp, sums over the
// context. Measured below 2e-6; asserted |out - ref| <= kStoredTolerance *
// (1 + max |v|), the same for every dtype, since each is decoded exactly.
constexpr double kStoredTolerance = 1e-5;

using test::AllInputRows;
using test::AllStoredRows;
using test::Batch;
using test::BuildCache;
using test::NaiveAttention;
using test::Reference;
using test::TestCache;

double MaxAbs(const std::vector<std::vector<double>>& rows) {
  double max = 0;
  for (const auto& seq : rows) {
    for (double x : seq) max = std::max(max, std::abs(x));
  }
  return max;
}

// Decode tokens of every sequence plus a prefill chunk of the last one.
Batch MixedBatch(const TestCache& cache, int64_t q_heads, std::mt19937& rng) {
  Batch b;
  for (int64_t s = 0; s < cache.num_seqs(); ++s) {
    b.seq_idx.push_back(static_cast<int32_t>(s));
    b.context_lens.push_back(static_cast<int32_t>(cache.seq_slots[s]));
  }
  const int64_t last = cache.num_seqs() - 1;
  for (int64_t i = 5; i >= 1; --i) {
    b.seq_idx.push_back(static_cast<int32_t>(last));
    b.context_lens.push_back(static_cast<int32_t>(cache.seq_slots[last] - i));
  }
  b.q = RandomVector(b.seq_idx.size() * q_heads * cache.dim, rng);
  return b;
}

void ExpectNear(const std::vector<float>& out, const std::vector<double>& ref, double tolerance) {
  ASSERT_EQ(out.size(), ref.size());
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(std::isfinite(out[i])) << "element " << i;
    ASSERT_NEAR(out[i], ref[i], tolerance) << "element " << i;
  }
}

class AttentionDtypeTest : public ::testing::TestWithParam<std::tuple<DType, bool>> {
 protected:
  DType dtype() const { return std::get<0>(GetParam()); }
  bool simd() const { return std::get<1>(GetParam()); }
  absl::Status Run(const AttentionParams& p, ThreadPool& pool) {
    return internal::PagedAttentionForTesting(p, pool, simd());
  }
};

// MHA, GQA (groups 3 and 4) and MQA; head_dim 32 (the AVX2 kernels when
// allowed) and 24 (always the portable ones); block sizes 16 and 5.
TEST_P(AttentionDtypeTest, MatchesNaiveReferenceOverStoredValues) {
  struct Shape {
    int64_t q_heads, kv_heads, dim, block_size;
  };
  for (const Shape shape : {Shape{8, 8, 32, 16}, Shape{8, 2, 32, 16}, Shape{6, 2, 32, 16},
                            Shape{8, 1, 32, 16}, Shape{4, 2, 24, 5}, Shape{2, 1, 64, 16}}) {
    SCOPED_TRACE(::testing::Message() << "q_heads=" << shape.q_heads
                                      << " kv_heads=" << shape.kv_heads << " dim=" << shape.dim);
    std::mt19937 rng(static_cast<uint32_t>(shape.q_heads * 100 + shape.kv_heads + shape.dim));
    TestCache cache =
        BuildCache(dtype(), shape.kv_heads, shape.dim, shape.block_size, {1, 17, 40, 75}, rng);
    Batch batch = MixedBatch(cache, shape.q_heads, rng);
    const AttentionParams p = batch.Params(cache, shape.q_heads);
    ThreadPool pool(2);
    ASSERT_TRUE(Run(p, pool).ok());
    const auto v_rows = AllStoredRows(cache, false);
    const Reference ref = NaiveAttention(p, AllStoredRows(cache, true), v_rows);
    ExpectNear(batch.out, ref.out, kStoredTolerance * (1 + MaxAbs(v_rows)));
  }
}

// A token's output is the same bits alone (1 thread), among other sequences'
// tokens, inside prefill chunks of several sizes, and on 2 or 3 threads; with
// the full policy and with a bounded one (window, sinks, q_sink, column sums).
TEST_P(AttentionDtypeTest, TokenIsBitIdenticalAloneInBatchAndAcrossThreads) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 32;
  std::mt19937 rng(99);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {50, 37, 64}, rng);
  const auto q = RandomVector(q_heads * dim, rng), q_sink = RandomVector(q_heads * dim, rng);
  for (const bool bounded : {false, true}) {
    SCOPED_TRACE(bounded ? "bounded" : "full");
    // The token: sequence 0 at position 44 (context 45).
    auto run = [&](int64_t chunk_begin, int64_t chunk_end, bool others, int threads,
                   std::vector<float>* sums) {
      Batch b;
      std::vector<int64_t> token_positions;
      auto add = [&](int32_t seq, int32_t pos, const std::vector<float>& row,
                     const std::vector<float>& sink_row) {
        b.seq_idx.push_back(seq);
        b.context_lens.push_back(pos + 1);
        b.query_positions.push_back(pos);
        b.q.insert(b.q.end(), row.begin(), row.end());
        b.q_sink.insert(b.q_sink.end(), sink_row.begin(), sink_row.end());
        token_positions.push_back(pos);
      };
      if (others) add(1, 36, RandomVector(q_heads * dim, rng), RandomVector(q_heads * dim, rng));
      size_t index = 0;
      for (int64_t pos = chunk_begin; pos < chunk_end; ++pos) {
        if (pos == 44) index = b.seq_idx.size();
        add(0, static_cast<int32_t>(pos), pos == 44 ? q : RandomVector(q_heads * dim, rng),
            pos == 44 ? q_sink : RandomVector(q_heads * dim, rng));
      }
      if (others) add(2, 63, RandomVector(q_heads * dim, rng), RandomVector(q_heads * dim, rng));
      if (bounded) {
        b.num_sinks = {3, 2, 4};
        b.recent_window = {20, 8, 16};
        int64_t offset = 0;
        for (size_t t = 0; t < b.seq_idx.size(); ++t) {
          b.column_sum_offsets.push_back(offset);
          offset += kv_heads * b.context_lens[t];
        }
        b.column_sums.assign(offset, -1.0f);
      } else {
        b.query_positions.clear();
        b.q_sink.clear();
      }
      AttentionParams p = b.Params(cache, q_heads);
      ThreadPool pool(threads);
      EXPECT_TRUE(Run(p, pool).ok());
      if (sums != nullptr && bounded) {
        const int64_t at = b.column_sum_offsets[index];
        sums->assign(b.column_sums.begin() + at, b.column_sums.begin() + at + kv_heads * 45);
      }
      return std::vector<float>(b.out.begin() + index * q_heads * dim,
                                b.out.begin() + (index + 1) * q_heads * dim);
    };
    std::vector<float> alone_sums, sums;
    const std::vector<float> alone = run(44, 45, false, 1, &alone_sums);
    for (int threads : {1, 2, 3}) {
      for (const auto& [begin, end] :
           {std::pair{44, 45}, std::pair{40, 50}, std::pair{0, 50}, std::pair{44, 47}}) {
        SCOPED_TRACE(::testing::Message()
                     << "threads=" << threads << " chunk=[" << begin << ", " << end << ")");
        const std::vector<float> out = run(begin, end, true, threads, &sums);
        ASSERT_EQ(0, std::memcmp(out.data(), alone.data(), out.size() * sizeof(float)));
        if (bounded) {
          ASSERT_EQ(0, std::memcmp(sums.data(), alone_sums.data(), sums.size() * sizeof(float)));
        }
      }
    }
  }
}

class KernelSetTest : public ::testing::TestWithParam<DType> {};

TEST_P(KernelSetTest, PortableAndSimdKernelsAgree) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 48;
  std::mt19937 rng(5);
  TestCache cache = BuildCache(GetParam(), kv_heads, dim, 16, {33, 70}, rng);
  Batch batch = MixedBatch(cache, q_heads, rng);
  const AttentionParams p = batch.Params(cache, q_heads);
  ThreadPool pool(2);
  ASSERT_TRUE(internal::PagedAttentionForTesting(p, pool, false).ok());
  const std::vector<float> portable = batch.out;
  ASSERT_TRUE(internal::PagedAttentionForTesting(p, pool, true).ok());
  const auto v_rows = AllStoredRows(cache, false);
  std::vector<double> simd(batch.out.begin(), batch.out.end());
  ExpectNear(portable, simd, kStoredTolerance * (1 + MaxAbs(v_rows)));
}

std::string DtypeCaseName(const ::testing::TestParamInfo<std::tuple<DType, bool>>& info) {
  std::string name(DTypeName(std::get<0>(info.param)));
  std::replace(name.begin(), name.end(), '-', '_');
  return name + (std::get<1>(info.param) ? "_simd" : "_portable");
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, KernelSetTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                           DType::kFp8E5M2));

INSTANTIATE_TEST_SUITE_P(AllDtypes, AttentionDtypeTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kF16,
                                                              DType::kBF16, DType::kFp8E4M3,
                                                              DType::kFp8E5M2),
                                            ::testing::Bool()),
                         DtypeCaseName);

// ---- FP8 against the f32 inputs: a derived bound ----
//
// Each stored element x' of a row with scale c (c = amax / max finite) obeys
//   |x' - x| <= e(x) = max(delta |x|, c eta),
// delta = 2^-4 (E4M3: 3 mantissa bits, round to nearest) or 2^-3 (E5M2), and
// eta = 2^-10 or 2^-17 (half the subnormal step, for |x / c| below the
// smallest normal). Then each score s_j = k q . k_j moves by at most
//   eps_j = k sum_d |q_d| e(k_jd);
// with eps = max_j eps_j every probability moves by a factor within
// exp(+-2 eps), so with p_j the exact probabilities (from the inputs)
//   |o'_d - o_d| <= exp(2 eps) sum_j p_j e(v_jd) + (exp(2 eps) - 1) sum_j p_j |v_jd|,
// plus 1e-5 for the kernels' f32 arithmetic. The rows' magnitudes vary by
// token (K by 2^(t%4-2), V by 10^(t%5-2)) and every seventh V row has one
// element 1e4 times the rest: scales chosen per block from an earlier token
// could not represent them; per-token scales do.
class Fp8BoundTest : public ::testing::TestWithParam<DType> {};

TEST_P(Fp8BoundTest, OutputWithinDerivedBoundOfTheInputs) {
  const DType dtype = GetParam();
  const double delta = dtype == DType::kFp8E4M3 ? 0x1p-4 : 0x1p-3;
  const double eta = dtype == DType::kFp8E4M3 ? 0x1p-10 : 0x1p-17;
  const int64_t q_heads = 8, kv_heads = 2, dim = 32, slots = 70, row = kv_heads * dim;
  std::mt19937 rng(11);
  TestCache cache = BuildCache(dtype, kv_heads, dim, 16, {slots}, rng);
  std::vector<float>& k_in = cache.k_in[0];
  std::vector<float>& v_in = cache.v_in[0];
  for (int64_t t = 0; t < slots; ++t) {
    for (int64_t i = 0; i < row; ++i) {
      k_in[t * row + i] *= std::ldexp(1.0f, static_cast<int>(t % 4) - 2);
      v_in[t * row + i] *= std::pow(10.0f, static_cast<float>(t % 5) - 2.0f);
    }
    if (t % 7 == 3) v_in[t * row + 5] *= 1e4f;
  }
  std::vector<int64_t> slot_mapping(slots);
  for (int64_t i = 0; i < slots; ++i) slot_mapping[i] = cache.block_tables[i / 16] * 16 + i % 16;
  ASSERT_TRUE(WriteKv({k_in.data(), v_in.data(), slot_mapping.data(), slots, cache.View()}).ok());
  Batch batch = MixedBatch(cache, q_heads, rng);
  const AttentionParams p = batch.Params(cache, q_heads);
  ThreadPool pool(2);
  ASSERT_TRUE(PagedAttention(p, pool).ok());

  auto scale_of = [&](const std::vector<float>& rows, int64_t slot, int64_t h) {
    double amax = 0;
    for (int64_t d = 0; d < dim; ++d)
      amax = std::max<double>(amax, std::abs(rows[slot * row + h * dim + d]));
    return amax / Fp8MaxFinite(dtype);
  };
  auto e = [&](double x, double scale) { return std::max(delta * std::abs(x), scale * eta); };
  const std::vector<double> k_stored = test::StoredRows(cache, 0, true);
  for (int64_t i = 0; i < slots * row; ++i) {  // the premise, element by element
    ASSERT_LE(std::abs(k_stored[i] - k_in[i]),
              e(k_in[i], scale_of(k_in, i / row, i % row / dim)) * (1 + 1e-6));
  }
  const int64_t group = q_heads / kv_heads;
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    const int64_t context = p.context_lens[t];
    for (int64_t h = 0; h < q_heads; ++h) {
      const int64_t kvh = h / group;
      const float* q = p.q + (t * q_heads + h) * dim;
      std::vector<double> probs(context);
      double eps = 0, max_score = -1e300, total = 0;
      for (int64_t j = 0; j < context; ++j) {
        const double c = scale_of(k_in, j, kvh);
        double dot = 0, eps_j = 0;
        for (int64_t d = 0; d < dim; ++d) {
          const double x = k_in[j * row + kvh * dim + d];
          dot += q[d] * x;
          eps_j += std::abs(q[d]) * e(x, c);
        }
        probs[j] = dot * p.softmax_scale;
        max_score = std::max(max_score, probs[j]);
        eps = std::max(eps, eps_j * p.softmax_scale);
      }
      for (double& x : probs) total += (x = std::exp(x - max_score));
      const double growth = std::exp(2 * eps);
      for (int64_t d = 0; d < dim; ++d) {
        double exact = 0, value_error = 0, magnitude = 0;
        for (int64_t j = 0; j < context; ++j) {
          const double x = v_in[j * row + kvh * dim + d], pj = probs[j] / total;
          exact += pj * x;
          value_error += pj * e(x, scale_of(v_in, j, kvh));
          magnitude += pj * std::abs(x);
        }
        const double limit = growth * value_error + (growth - 1) * magnitude + 1e-5;
        ASSERT_LE(std::abs(batch.out[(t * q_heads + h) * dim + d] - exact), limit)
            << "token " << t << " head " << h << " d " << d;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fp8, Fp8BoundTest, ::testing::Values(DType::kFp8E4M3, DType::kFp8E5M2));

TEST(AttentionTest, RejectsMalformedBoundedPolicyAndFp8WithoutScales) {
  std::mt19937 rng(3);
  TestCache cache = BuildCache(DType::kFp8E4M3, 1, 16, 16, {4}, rng);
  Batch b;
  b.seq_idx = {0};
  b.context_lens = {4};
  b.q = RandomVector(16, rng);
  ThreadPool pool(1);
  AttentionParams p = b.Params(cache, 1);
  ASSERT_TRUE(PagedAttention(p, pool).ok());
  p.cache.v_scale = nullptr;
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
  p = b.Params(cache, 1);
  const int32_t positions[4] = {0, 1, 2, 3};
  const SlotPositions map{positions, 0};
  p.slot_positions = &map;  // without query_positions
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
  p = b.Params(cache, 1);
  float sums[4];
  p.column_sums = sums;  // without offsets
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
  p = b.Params(cache, 1);
  const int32_t window = -1, query_position = 3;
  p.query_positions = &query_position;
  p.recent_window = &window;
  EXPECT_EQ(PagedAttention(p, pool).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa::cpu
