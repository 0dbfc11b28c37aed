// The bounded-policy parts of CPU attention: AttentionParams' visibility rule
// (slot maps, per-head maps, sinks, recent windows, query positions), q_sink
// and the H2O column sums, each against the naive reference of
// attention_test_util.h (which implements the rule on its own).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cpu/attention.h"
#include "worker/backend/cpu/attention_test_util.h"
#include "worker/backend/cpu/kv_write.h"

namespace gqa::cpu {
namespace {

using test::AllStoredRows;
using test::Batch;
using test::BuildCache;
using test::NaiveAttention;
using test::RandomVector;
using test::Reference;
using test::TestCache;

// As in attention_test.cc: the kernels' f32 rounding against the double
// reference over the stored values, |out - ref| <= kTolerance * (1 + max |v|).
constexpr double kTolerance = 1e-5;
// Column sums are probabilities (at most 1 per query head).
constexpr double kColumnTolerance = 1e-5;

class PolicyTest : public ::testing::TestWithParam<std::tuple<DType, bool>> {
 protected:
  void Run(Batch& batch, TestCache& cache, int64_t q_heads, Reference* ref = nullptr) {
    const AttentionParams p = batch.Params(cache, q_heads);
    ThreadPool pool(2);
    ASSERT_TRUE(internal::PagedAttentionForTesting(p, pool, std::get<1>(GetParam())).ok());
    const auto v_rows = AllStoredRows(cache, false);
    double v_max = 0;
    for (const auto& rows : v_rows) {
      for (double x : rows) v_max = std::max(v_max, std::abs(x));
    }
    const Reference r = NaiveAttention(p, AllStoredRows(cache, true), v_rows);
    for (size_t i = 0; i < batch.out.size(); ++i) {
      ASSERT_TRUE(std::isfinite(batch.out[i])) << "element " << i;
      ASSERT_NEAR(batch.out[i], r.out[i], kTolerance * (1 + v_max)) << "element " << i;
    }
    if (ref != nullptr) *ref = r;
  }
  DType dtype() const { return std::get<0>(GetParam()); }
};

void AddToken(Batch& b, int32_t seq, int32_t context, int32_t position, int64_t q_elems,
              std::mt19937& rng) {
  b.seq_idx.push_back(seq);
  b.context_lens.push_back(context);
  b.query_positions.push_back(position);
  const std::vector<float> q = RandomVector(q_elems, rng);
  b.q.insert(b.q.end(), q.begin(), q.end());
}

// Slots reused after eviction: a shuffled map with holes (-1), decode and
// chunk queries whose positions are past some slots' positions.
TEST_P(PolicyTest, SlotMapWithHolesAndShuffledPositions) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 32, slots = 48;
  std::mt19937 rng(21);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots, slots}, rng);
  std::vector<int32_t> positions(slots);
  std::iota(positions.begin(), positions.end(), 10);  // positions 10..57
  std::shuffle(positions.begin(), positions.end(), rng);
  for (int i = 0; i < slots; i += 5) positions[i] = -1;
  Batch b;
  b.slot_positions = {SlotPositions{positions.data(), 0}, SlotPositions{}};
  AddToken(b, 0, slots, 60, q_heads * dim, rng);  // sees every filled slot
  for (int32_t pos = 30; pos < 36; ++pos) AddToken(b, 0, slots, pos, q_heads * dim, rng);
  AddToken(b, 1, 30, 29, q_heads * dim, rng);  // no map: slot s holds position s
  Run(b, cache, q_heads);
}

// StreamingLLM: sinks plus a recent window, where whole blocks fall between
// them (and are skipped).
TEST_P(PolicyTest, SinksAndRecentWindow) {
  const int64_t q_heads = 4, kv_heads = 2, dim = 16, slots = 80;
  std::mt19937 rng(22);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 8, {slots}, rng);
  Batch b;
  b.num_sinks = {4};
  b.recent_window = {8};
  for (const int32_t pos : {79, 40, 5, 11, 12}) AddToken(b, 0, pos + 1, pos, q_heads * dim, rng);
  AddToken(b, 0, slots, 50, q_heads * dim, rng);  // scans past its own position
  int64_t offset = 0;
  for (int32_t context : b.context_lens) {
    b.column_sum_offsets.push_back(offset);
    offset += kv_heads * context;
  }
  b.column_sums.assign(offset, std::numeric_limits<float>::quiet_NaN());
  Reference ref;
  Run(b, cache, q_heads, &ref);
  for (size_t t = 0; t < b.seq_idx.size(); ++t) {
    const int64_t p = b.query_positions[t], context = b.context_lens[t];
    for (int64_t h = 0; h < kv_heads; ++h) {
      for (int64_t i = 0; i < context; ++i) {
        const float sum = b.column_sums[b.column_sum_offsets[t] + h * context + i];
        const bool visible = i <= p && (i < 4 || p - i < 8);
        if (visible) {
          ASSERT_GT(sum, 0.0f) << "token " << t << " slot " << i;
        } else {
          ASSERT_EQ(sum, 0.0f) << "token " << t << " slot " << i;
        }
      }
    }
  }
}

// Per-KV-head maps (head_stride): H2O evicts different tokens per head.
TEST_P(PolicyTest, PerHeadSlotMapsWithHeadStride) {
  const int64_t q_heads = 6, kv_heads = 3, dim = 32, slots = 40, stride = 64;
  std::mt19937 rng(23);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots}, rng);
  std::vector<int32_t> positions(kv_heads * stride, 12345);  // beyond slots: never read
  for (int64_t h = 0; h < kv_heads; ++h) {
    std::vector<int32_t> kept(100);
    std::iota(kept.begin(), kept.end(), 0);
    std::shuffle(kept.begin(), kept.end(), rng);
    kept.resize(slots);
    for (int64_t i = 0; i < slots; ++i) positions[h * stride + i] = (i % 9 == h) ? -1 : kept[i];
  }
  Batch b;
  b.slot_positions = {SlotPositions{positions.data(), stride}};
  b.num_sinks = {3};
  for (const int32_t pos : {99, 60, 20}) AddToken(b, 0, slots, pos, q_heads * dim, rng);
  Run(b, cache, q_heads);
}

// A prefill chunk scanning the whole context: each token sees only the
// positions up to its own, like a token alone with context = position + 1.
TEST_P(PolicyTest, ChunkTokensSeeOnlyTheirPast) {
  const int64_t q_heads = 8, kv_heads = 4, dim = 32, slots = 45;
  std::mt19937 rng(24);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots}, rng);
  Batch chunk;
  for (int32_t pos = 20; pos < slots; ++pos) AddToken(chunk, 0, slots, pos, q_heads * dim, rng);
  Run(chunk, cache, q_heads);
  Batch causal = chunk;  // the same queries, each scanning only its past
  causal.query_positions.clear();
  for (size_t t = 0; t < causal.seq_idx.size(); ++t) {
    causal.context_lens[t] = chunk.query_positions[t] + 1;
  }
  Run(causal, cache, q_heads);
  for (size_t i = 0; i < chunk.out.size(); ++i) ASSERT_NEAR(chunk.out[i], causal.out[i], 1e-6);
}

TEST_P(PolicyTest, QueryThatSeesNothingGetsZeros) {
  const int64_t q_heads = 4, kv_heads = 2, dim = 16, slots = 20;
  std::mt19937 rng(25);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots, slots}, rng);
  std::vector<int32_t> empty(slots, -1), later(slots);
  std::iota(later.begin(), later.end(), 100);
  Batch b;
  b.slot_positions = {SlotPositions{empty.data(), 0}, SlotPositions{later.data(), 0}};
  AddToken(b, 0, slots, 50, q_heads * dim, rng);
  AddToken(b, 1, slots, 50, q_heads * dim, rng);  // every slot is in its future
  b.column_sum_offsets = {0, kv_heads * slots};
  b.column_sums.assign(2 * kv_heads * slots, 7.0f);
  Run(b, cache, q_heads);
  for (float x : b.out) ASSERT_EQ(x, 0.0f);
  for (float x : b.column_sums) ASSERT_EQ(x, 0.0f);
}

// q_sink scores exactly the sink slots (found through a shuffled map), and
// nothing else: with q_sink == q, or no sinks, the output is bit-identical to
// running without q_sink.
TEST_P(PolicyTest, QSinkScoresExactlyTheSinkSlots) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 32, slots = 40;
  std::mt19937 rng(26);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots}, rng);
  std::vector<int32_t> positions(slots);
  std::iota(positions.begin(), positions.end(), 0);
  std::shuffle(positions.begin(), positions.end(), rng);  // sinks 0..4 anywhere
  Batch b;
  b.slot_positions = {SlotPositions{positions.data(), 0}};
  b.num_sinks = {5};
  b.recent_window = {12};
  // Position 5, the first after the sinks, is seen through the window at 10 and 16.
  for (const int32_t pos : {39, 30, 16, 10, 3}) AddToken(b, 0, slots, pos, q_heads * dim, rng);
  b.q_sink = RandomVector(b.q.size(), rng, 3.0f);  // far from q: a wrong slot shows
  Run(b, cache, q_heads);  // against the reference, which uses q_sink for pos < 5

  Batch plain = b;
  plain.q_sink.clear();
  Run(plain, cache, q_heads);
  Batch same = b;
  same.q_sink = same.q;
  Run(same, cache, q_heads);
  ASSERT_EQ(0, std::memcmp(same.out.data(), plain.out.data(), plain.out.size() * sizeof(float)));
  Batch no_sinks = b;
  no_sinks.num_sinks = {0};
  plain.num_sinks = {0};
  Run(no_sinks, cache, q_heads);
  Run(plain, cache, q_heads);
  ASSERT_EQ(0,
            std::memcmp(no_sinks.out.data(), plain.out.data(), plain.out.size() * sizeof(float)));
  // And q_sink does change the answer when there are sinks.
  ASSERT_NE(0, std::memcmp(b.out.data(), same.out.data(), b.out.size() * sizeof(float)));
}

// Where a bounded policy keeps a position depends on when it evicted, which
// depends on the prefill chunking: the same visible positions in another slot
// layout (more slots scanned, other holes) give the same bits, and the column
// sums follow the slots.
TEST_P(PolicyTest, ResultDoesNotDependOnSlotLayout) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 32;
  std::mt19937 rng(28);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {40, 52}, rng);
  std::vector<int32_t> map0(40), map1(52, -1);
  std::iota(map0.begin(), map0.end(), 0);
  std::shuffle(map0.begin(), map0.end(), rng);
  // Sequence 1 holds sequence 0's rows at other slots, plus a future position.
  std::vector<int32_t> slot_of(40);
  std::vector<int32_t> free(52);
  std::iota(free.begin(), free.end(), 0);
  std::shuffle(free.begin(), free.end(), rng);
  std::vector<int64_t> destinations;
  for (int32_t i = 0; i < 40; ++i) {
    slot_of[i] = free[i];
    map1[free[i]] = map0[i];
    destinations.push_back(cache.block_tables[cache.max_blocks + free[i] / 16] * 16 + free[i] % 16);
  }
  map1[free[40]] = 99;  // never visible to the queries below
  ASSERT_TRUE(
      WriteKv({cache.k_in[0].data(), cache.v_in[0].data(), destinations.data(), 40, cache.View()})
          .ok());
  Batch b;
  b.slot_positions = {SlotPositions{map0.data(), 0}, SlotPositions{map1.data(), 0}};
  b.num_sinks = {3, 3};
  b.recent_window = {20, 20};
  for (const int32_t seq : {0, 1}) {
    for (const int32_t pos : {39, 25}) {
      b.seq_idx.push_back(seq);
      b.context_lens.push_back(seq == 0 ? 40 : 52);
      b.query_positions.push_back(pos);
    }
  }
  const std::vector<float> q = RandomVector(2 * q_heads * dim, rng);
  b.q = q;
  b.q.insert(b.q.end(), q.begin(), q.end());
  b.q_sink = RandomVector(b.q.size(), rng);
  std::copy(b.q_sink.begin(), b.q_sink.begin() + 2 * q_heads * dim,
            b.q_sink.begin() + 2 * q_heads * dim);
  b.column_sum_offsets = {0, 80, 160, 264};
  b.column_sums.assign(368, -1.0f);
  Run(b, cache, q_heads);
  const size_t half = b.out.size() / 2;
  ASSERT_EQ(0, std::memcmp(b.out.data(), b.out.data() + half, half * sizeof(float)));
  for (int64_t t = 0; t < 2; ++t) {
    for (int64_t h = 0; h < kv_heads; ++h) {
      for (int32_t i = 0; i < 40; ++i) {
        ASSERT_EQ(b.column_sums[b.column_sum_offsets[t] + h * 40 + i],
                  b.column_sums[b.column_sum_offsets[t + 2] + h * 52 + slot_of[i]]);
      }
    }
  }
}

// H2O column sums: per KV head, the group's probabilities of each slot
// summed; each query head's sum to 1, so each token's columns sum to the group.
TEST_P(PolicyTest, ColumnSumsAreGroupProbabilities) {
  const int64_t q_heads = 8, kv_heads = 2, dim = 32, slots = 37, group = q_heads / kv_heads;
  std::mt19937 rng(27);
  TestCache cache = BuildCache(dtype(), kv_heads, dim, 16, {slots, 20}, rng);
  std::vector<int32_t> positions(slots);
  std::iota(positions.begin(), positions.end(), 0);
  std::shuffle(positions.begin(), positions.end(), rng);
  positions[7] = -1;
  Batch b;
  b.slot_positions = {SlotPositions{positions.data(), 0}, SlotPositions{}};
  b.num_sinks = {2, 0};
  b.recent_window = {16, 0};
  AddToken(b, 0, slots, 40, q_heads * dim, rng);
  AddToken(b, 1, 20, 19, q_heads * dim, rng);  // no sums wanted
  AddToken(b, 0, slots, 25, q_heads * dim, rng);
  AddToken(b, 1, 20, 19, q_heads * dim, rng);  // the full policy's sums
  const int64_t pad = 3;                       // NaN guards around each region
  b.column_sum_offsets = {pad, -1, 2 * pad + kv_heads * slots, 3 * pad + 2 * kv_heads * slots};
  b.column_sums.assign(4 * pad + kv_heads * (2 * slots + 20),
                       std::numeric_limits<float>::quiet_NaN());
  Reference ref;
  Run(b, cache, q_heads, &ref);
  for (size_t t = 0; t < b.seq_idx.size(); ++t) {
    if (b.column_sum_offsets[t] < 0) continue;
    const int64_t context = b.context_lens[t];
    for (int64_t h = 0; h < kv_heads; ++h) {
      double total = 0;
      for (int64_t i = 0; i < context; ++i) {
        const float sum = b.column_sums[b.column_sum_offsets[t] + h * context + i];
        ASSERT_NEAR(sum, ref.column_sums[t][h * context + i], kColumnTolerance)
            << "token " << t << " head " << h << " slot " << i;
        if (ref.column_sums[t][h * context + i] == 0) {
          ASSERT_EQ(sum, 0.0f);
        }
        total += sum;
      }
      ASSERT_NEAR(total, static_cast<double>(group), 1e-4 * group);
    }
  }
  int64_t written = 0;
  for (float x : b.column_sums) written += !std::isnan(x);
  ASSERT_EQ(written, kv_heads * (2 * slots + 20));  // the guards are untouched
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PolicyTest,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kFp8E4M3),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<DType, bool>>& info) {
                           std::string name(DTypeName(std::get<0>(info.param)));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name + (std::get<1>(info.param) ? "_simd" : "_portable");
                         });

}  // namespace
}  // namespace gqa::cpu
