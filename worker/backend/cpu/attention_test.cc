#include "worker/backend/cpu/attention.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace gqa::cpu {
namespace {

// A paged cache whose blocks are handed out in a shuffled order, so that the
// test also checks block-table indirection.
struct TestCache {
  std::vector<float> k, v;
  std::vector<int32_t> block_table;
  PagedKvView view;
};

TestCache MakeCache(int64_t kv_heads, int64_t dim, int64_t tokens, int64_t block_size,
                    const std::vector<float>& k_rows, const std::vector<float>& v_rows,
                    std::mt19937& rng) {
  TestCache cache;
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

std::vector<float> RunPaged(const std::vector<float>& q, const TestCache& cache, int64_t q_heads,
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

std::vector<float> RandomVector(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& value : x) value = dist(rng);
  return x;
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
  const TestCache gqa_cache = MakeCache(kv_heads, dim, tokens, block_size, k, v, rng);
  const TestCache mha_cache = MakeCache(q_heads, dim, tokens, block_size, k_mha, v_mha, rng);
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
  const TestCache cache = MakeCache(kv_heads, dim, tokens, 16, k, v, rng);
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

}  // namespace
}  // namespace gqa::cpu
