#include "worker/kv/kv_cache_manager.h"

#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

KvCacheManagerOptions SmallOptions(int64_t num_blocks) {
  KvCacheManagerOptions options;
  options.num_blocks = num_blocks;
  options.block_size = 4;
  options.num_layers = 2;
  options.num_kv_heads = 2;
  options.bytes_per_block = 1000;
  options.formula_bytes_per_token = 200;
  options.scale_bytes_per_token = 16;
  options.model_fingerprint = "test-model";
  return options;
}

std::vector<int32_t> Tokens(int32_t n, int32_t first = 100) {
  std::vector<int32_t> out(n);
  std::iota(out.begin(), out.end(), first);
  return out;
}

// Runs `tokens` through `seq` in steps of at most `chunk`; false when the
// pool ran out (the step is then not taken).
bool Feed(KvCacheManager& kv, SequenceKv& seq, const std::vector<int32_t>& tokens, int64_t chunk,
          std::vector<KvBlockCopy>* copies = nullptr) {
  std::vector<KvBlockCopy> local;
  for (size_t begin = 0; begin < tokens.size(); begin += chunk) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(chunk));
    absl::StatusOr<bool> reserved =
        kv.Reserve(seq, absl::MakeConstSpan(tokens).subspan(begin, end - begin),
                   copies ? *copies : local);
    EXPECT_TRUE(reserved.ok()) << reserved.status();
    if (!reserved.ok() || !*reserved) return false;
    StepColumnSums sums;
    std::vector<float> zeros;
    if (seq.bounded() && seq.bounded_slots()->per_head()) {
      const int64_t scan = seq.ScanLength(0);
      const int64_t n = static_cast<int64_t>(end - begin);
      zeros.assign(kv.options().num_layers * n * kv.options().num_kv_heads * scan, 0.0f);
      sums.data = zeros.data();
      sums.layer_stride = n * kv.options().num_kv_heads * scan;
      sums.scan_length = scan;
      for (int64_t i = 0; i < n; ++i) sums.token_offsets.push_back(i * kv.options().num_kv_heads * scan);
    }
    kv.Commit(seq, &sums);
  }
  return true;
}

TEST(KvCacheManagerTest, FullSequencesGrowByBlocksAndFreeEverything) {
  KvCacheManager kv(SmallOptions(8));
  auto seq = kv.Begin(KvPolicy::Full(), "t", Tokens(6), 20);
  ASSERT_TRUE(Feed(kv, *seq, Tokens(6), 4));
  EXPECT_EQ(seq->num_tokens(), 6);
  EXPECT_EQ(seq->block_table().size(), 2u);
  EXPECT_EQ(kv.pool().num_free_blocks(), 6);
  const KvUsage usage = kv.Usage(*seq);
  EXPECT_EQ(usage.tokens_held, 6);
  EXPECT_EQ(usage.formula_bytes, 6 * 200);
  EXPECT_EQ(usage.scale_bytes, 6 * 16);
  EXPECT_EQ(usage.allocated_bytes, 2 * 1000);
  kv.Release(*seq);
  EXPECT_EQ(kv.pool().num_free_blocks(), 8);
}

TEST(KvCacheManagerTest, StepSlotsFollowPositionsForFullSequences) {
  KvCacheManager kv(SmallOptions(8));
  auto seq = kv.Begin(KvPolicy::Full(), "t", Tokens(3), 20);
  std::vector<KvBlockCopy> copies;
  ASSERT_TRUE(*kv.Reserve(*seq, Tokens(3), copies));
  EXPECT_EQ(seq->StepSlot(2, 1, 1), 2);
  EXPECT_EQ(seq->ScanLength(0), 1);
  EXPECT_EQ(seq->ScanLength(2), 3);
  EXPECT_FALSE(kv.Reserve(*seq, Tokens(1), copies).ok());  // previous step not committed
  kv.Commit(*seq, nullptr);
  kv.Release(*seq);
}

TEST(KvCacheManagerTest, RunningOutIsNotNowAndChangesNothing) {
  KvCacheManager kv(SmallOptions(2));
  auto a = kv.Begin(KvPolicy::Full(), "t", Tokens(8), 20);
  ASSERT_TRUE(Feed(kv, *a, Tokens(8), 8));
  auto b = kv.Begin(KvPolicy::Full(), "t", Tokens(4, 7), 20);
  std::vector<KvBlockCopy> copies;
  absl::StatusOr<bool> reserved = kv.Reserve(*b, Tokens(4, 7), copies);
  ASSERT_TRUE(reserved.ok());
  EXPECT_FALSE(*reserved);
  EXPECT_EQ(b->num_tokens(), 0);
  EXPECT_TRUE(b->block_table().empty());
  kv.Release(*a);
  EXPECT_TRUE(*kv.Reserve(*b, Tokens(4, 7), copies));
  kv.Commit(*b, nullptr);
  kv.Release(*b);
  EXPECT_EQ(kv.pool().num_free_blocks(), 2);
}

TEST(KvCacheManagerTest, IdenticalPrefixesShareFullBlocksOfOneTenantOnly) {
  KvCacheManager kv(SmallOptions(16));
  const std::vector<int32_t> prompt = Tokens(10);  // blocks [0,4) [4,8) and 2 more tokens
  auto first = kv.Begin(KvPolicy::Full(), "alice", prompt, 20);
  EXPECT_EQ(first->reused_prefix_tokens(), 0);
  ASSERT_TRUE(Feed(kv, *first, prompt, 16));
  EXPECT_EQ(kv.pool().num_published_blocks(), 2);

  auto second = kv.Begin(KvPolicy::Full(), "alice", prompt, 20);
  EXPECT_EQ(second->reused_prefix_tokens(), 8);
  EXPECT_EQ(second->num_tokens(), 8);
  EXPECT_EQ(second->block_table()[0], first->block_table()[0]);
  EXPECT_EQ(second->block_table()[1], first->block_table()[1]);
  EXPECT_EQ(kv.pool().ref_count(first->block_table()[0]), 2);
  ASSERT_TRUE(Feed(kv, *second, {108, 109}, 16));
  EXPECT_NE(second->block_table()[2], first->block_table()[2]);  // the partial block is private

  // Another tenant with the same tokens sees none of alice's blocks.
  auto other = kv.Begin(KvPolicy::Full(), "bob", prompt, 20);
  EXPECT_EQ(other->reused_prefix_tokens(), 0);
  // A different first block breaks the chain at once.
  std::vector<int32_t> changed = prompt;
  changed[0] = 7;
  EXPECT_EQ(kv.Begin(KvPolicy::Full(), "alice", changed, 20)->reused_prefix_tokens(), 0);

  kv.Release(*first);
  kv.Release(*second);
  kv.Release(*other);
  EXPECT_EQ(kv.pool().num_free_blocks(), 16);
  // Freed published blocks stay findable until reused.
  auto third = kv.Begin(KvPolicy::Full(), "alice", prompt, 20);
  EXPECT_EQ(third->reused_prefix_tokens(), 8);
  kv.Release(*third);
}

TEST(KvCacheManagerTest, WritingIntoASharedBlockCopiesItFirst) {
  KvCacheManager kv(SmallOptions(16));
  const std::vector<int32_t> prompt = Tokens(8);  // exactly two full blocks
  auto first = kv.Begin(KvPolicy::Full(), "t", prompt, 20);
  ASSERT_TRUE(Feed(kv, *first, prompt, 8));
  // The whole prompt is cached, but its last token must be computed again:
  // it goes into the shared second block, which is copied first.
  auto second = kv.Begin(KvPolicy::Full(), "t", prompt, 20);
  EXPECT_EQ(second->reused_prefix_tokens(), 7);
  std::vector<KvBlockCopy> copies;
  ASSERT_TRUE(Feed(kv, *second, {107}, 1, &copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, first->block_table()[1]);
  EXPECT_EQ(copies[0].dst, second->block_table()[1]);
  EXPECT_EQ(second->block_table()[0], first->block_table()[0]);
  EXPECT_EQ(kv.pool().ref_count(first->block_table()[1]), 1);
  kv.Release(*first);
  kv.Release(*second);
  EXPECT_EQ(kv.pool().num_free_blocks(), 16);
}

TEST(KvCacheManagerTest, BoundedSequencesAreConstantPrivateAndStepLimited) {
  KvCacheManager kv(SmallOptions(32));
  const KvPolicy policy = KvPolicy::Streaming(2, 6);
  auto seq = kv.Begin(policy, "t", Tokens(4), 1000);
  std::vector<KvBlockCopy> copies;
  EXPECT_FALSE(kv.Reserve(*seq, Tokens(5), copies).ok());  // more than a block per step
  ASSERT_TRUE(Feed(kv, *seq, Tokens(200), 4));
  EXPECT_EQ(seq->tokens_held(), 7);
  EXPECT_EQ(seq->evicted_tokens(), 193);
  EXPECT_LE(static_cast<int64_t>(seq->block_table().size()) * 4, 12);  // PaddedTokens(8 + 3)
  EXPECT_EQ(kv.pool().num_published_blocks(), 0);
  // Another sequence with the same tokens reuses nothing.
  auto full = kv.Begin(KvPolicy::Full(), "t", Tokens(200), 300);
  EXPECT_EQ(full->reused_prefix_tokens(), 0);
  kv.Release(*seq);
  kv.Release(*full);
  EXPECT_EQ(kv.pool().num_free_blocks(), 32);
}

TEST(KvCacheManagerTest, BoundedSequenceBeyondItsDeclaredLengthIsAnError) {
  KvCacheManager kv(SmallOptions(32));
  auto seq = kv.Begin(KvPolicy::Window(100), "t", Tokens(4), 8);
  ASSERT_TRUE(Feed(kv, *seq, Tokens(8), 4));
  std::vector<KvBlockCopy> copies;
  EXPECT_FALSE(kv.Reserve(*seq, Tokens(4), copies).ok());
  kv.Release(*seq);
}

// Any mix of steps, finishes, cancels mid-step and preemptions (release and
// start again from the tokens so far) returns every block to the pool.
TEST(KvCacheManagerTest, RandomizedLifecyclesNeverLeakBlocks) {
  std::mt19937 rng(2026);
  KvCacheManager kv(SmallOptions(40));
  const std::vector<KvPolicy> policies = {KvPolicy::Full(), KvPolicy::Streaming(2, 6),
                                          KvPolicy::H2o(3, 3), KvPolicy::Window(5)};
  struct Live {
    std::unique_ptr<SequenceKv> kv;
    std::vector<int32_t> tokens;
  };
  std::vector<Live> live;
  for (int iter = 0; iter < 4000; ++iter) {
    const int action = static_cast<int>(rng() % 10);
    if (action < 2 || live.empty()) {
      std::vector<int32_t> prompt = Tokens(1 + rng() % 12, static_cast<int32_t>(rng() % 3));
      live.push_back({kv.Begin(policies[rng() % policies.size()], "t", prompt, 64), prompt});
    } else if (action < 8) {
      Live& seq = live[rng() % live.size()];
      const int64_t n = std::min<int64_t>(1 + rng() % 6, kv.MaxStepTokens(*seq.kv));
      if (seq.kv->num_tokens() + n > 64) continue;
      std::vector<int32_t> step = Tokens(static_cast<int32_t>(n), static_cast<int32_t>(rng() % 5));
      std::vector<KvBlockCopy> copies;
      absl::StatusOr<bool> reserved = kv.Reserve(*seq.kv, step, copies);
      ASSERT_TRUE(reserved.ok()) << reserved.status();
      if (!*reserved) continue;
      if (rng() % 8 == 0) {  // cancelled in the middle of a step
        kv.Release(*seq.kv);
        live.erase(live.begin() + (&seq - live.data()));
        continue;
      }
      StepColumnSums sums;
      std::vector<float> zeros;
      if (seq.kv->bounded() && seq.kv->bounded_slots()->per_head()) {
        const int64_t scan = seq.kv->ScanLength(0);
        zeros.assign(2 * n * 2 * scan, 0.5f);
        sums = {zeros.data(), n * 2 * scan, {}, scan};
        for (int64_t i = 0; i < n; ++i) sums.token_offsets.push_back(i * 2 * scan);
      }
      kv.Commit(*seq.kv, &sums);
      seq.tokens.insert(seq.tokens.end(), step.begin(), step.end());
    } else {
      const size_t idx = rng() % live.size();
      Live& seq = live[idx];
      kv.Release(*seq.kv);
      bool resumed = false;
      if (action == 8 && seq.kv->policy() == KvPolicy::Full()) {  // preempt, then recompute
        seq.kv = kv.Begin(KvPolicy::Full(), "t", seq.tokens, 64);
        const std::vector<int32_t> rest(seq.tokens.begin() + seq.kv->num_tokens(), seq.tokens.end());
        resumed = rest.empty() || Feed(kv, *seq.kv, rest, 64);
        if (!resumed) kv.Release(*seq.kv);
      }
      if (!resumed) live.erase(live.begin() + idx);
    }
    int64_t owned = 0;
    for (const Live& seq : live) owned += static_cast<int64_t>(seq.kv->block_table().size());
    ASSERT_GE(owned, kv.pool().num_used_blocks());  // shared blocks count once in the pool
  }
  for (Live& seq : live) kv.Release(*seq.kv);
  EXPECT_EQ(kv.pool().num_free_blocks(), 40);
  EXPECT_EQ(kv.pool().num_used_blocks(), 0);
}

}  // namespace
}  // namespace gqa

namespace gqa {
namespace {

TEST(KvCacheManagerInstallTest, InstalledBlocksAreFoundByBeginOfTheirTenantOnly) {
  KvCacheManager kv(SmallOptions(8));
  const std::vector<int32_t> prompt = Tokens(10);
  const std::vector<BlockId> chain =
      ChainBlockIds(RootBlockId("test-model", "alice"), prompt, /*block_size=*/4);
  ASSERT_EQ(chain.size(), 2u);
  std::vector<int32_t> filled;
  EXPECT_EQ(kv.InstallPrefixBlocks("alice", chain,
                                   [&](int32_t block, size_t) {
                                     filled.push_back(block);
                                     return true;
                                   }),
            2);
  EXPECT_EQ(filled.size(), 2u);
  EXPECT_EQ(kv.pool().num_free_blocks(), 8);  // cached, owned by nobody
  auto seq = kv.Begin(KvPolicy::Full(), "alice", prompt, 20);
  EXPECT_EQ(seq->reused_prefix_tokens(), 8);
  EXPECT_EQ(seq->block_table()[0], filled[0]);
  EXPECT_EQ(kv.Begin(KvPolicy::Full(), "bob", prompt, 20)->reused_prefix_tokens(), 0);
  // Already cached blocks are not installed twice; a failed fill stops.
  EXPECT_EQ(kv.InstallPrefixBlocks("alice", chain, [](int32_t, size_t) { return true; }), 0);
  kv.Release(*seq);
}

TEST(KvCacheManagerInstallTest, AFailedFillInstallsNothingMoreAndLeaksNothing) {
  KvCacheManager kv(SmallOptions(4));
  const std::vector<BlockId> chain =
      ChainBlockIds(RootBlockId("test-model", "t"), Tokens(12), 4);
  EXPECT_EQ(kv.InstallPrefixBlocks("t", chain, [](int32_t, size_t i) { return i < 1; }), 1);
  EXPECT_EQ(kv.pool().num_free_blocks(), 4);
  EXPECT_EQ(kv.pool().num_published_blocks(), 1);
}

}  // namespace
}  // namespace gqa

namespace gqa {
namespace {

// The logical slot of every step token in every (layer, KV head) map.
std::vector<int64_t> StepSlots(const KvCacheManager& kv, const SequenceKv& seq) {
  std::vector<int64_t> slots;
  for (int64_t layer = 0; layer < kv.options().num_layers; ++layer) {
    for (int64_t h = 0; h < kv.options().num_kv_heads; ++h) {
      for (int64_t i = 0; i < seq.step_tokens(); ++i) {
        slots.push_back(seq.StepSlot(i, layer, h));
      }
    }
  }
  return slots;
}

TEST(KvCacheManagerSwapTest, SwapOutFreesTheBlocksAndSwapInRestoresTheStateInFreshBlocks) {
  for (const KvPolicy& policy :
       {KvPolicy::Full(), KvPolicy::Streaming(2, 6), KvPolicy::H2o(3, 3), KvPolicy::Window(5)}) {
    SCOPED_TRACE(FormatKvPolicy(policy));
    KvCacheManager kv(SmallOptions(12));
    std::unique_ptr<SequenceKv> seq = kv.Begin(policy, "t", Tokens(9), 40);
    ASSERT_TRUE(Feed(kv, *seq, Tokens(13), 4));
    const std::vector<int32_t> before = seq->block_table();
    const int64_t tokens = seq->num_tokens();
    const int64_t held = seq->tokens_held();
    const int64_t evicted = seq->evicted_tokens();
    ASSERT_FALSE(before.empty());

    kv.SwapOut(*seq);
    EXPECT_TRUE(seq->swapped());
    EXPECT_EQ(seq->swapped_blocks(), static_cast<int64_t>(before.size()));
    EXPECT_TRUE(seq->block_table().empty());
    EXPECT_EQ(kv.pool().num_free_blocks(), 12);
    EXPECT_EQ(seq->num_tokens(), tokens);
    EXPECT_GE(kv.BlocksNeededToSwapIn(*seq, 1), seq->swapped_blocks());

    // Another sequence takes the freed blocks, so the restored ones differ.
    std::unique_ptr<SequenceKv> other = kv.Begin(KvPolicy::Full(), "t", Tokens(3, 500), 8);
    ASSERT_TRUE(Feed(kv, *other, Tokens(3, 500), 3));
    std::vector<size_t> filled;
    ASSERT_TRUE(kv.SwapIn(*seq, [&](int32_t, size_t index) {
      filled.push_back(index);
      return true;
    }));
    std::vector<size_t> in_order(before.size());
    std::iota(in_order.begin(), in_order.end(), 0);
    EXPECT_EQ(filled, in_order);
    EXPECT_FALSE(seq->swapped());
    EXPECT_EQ(seq->block_table().size(), before.size());
    EXPECT_EQ(seq->num_tokens(), tokens);
    EXPECT_EQ(seq->tokens_held(), held);
    EXPECT_EQ(seq->evicted_tokens(), evicted);

    // It continues: the next step reserves like an unswapped twin's.
    KvCacheManager twin_kv(SmallOptions(12));
    std::unique_ptr<SequenceKv> twin = twin_kv.Begin(policy, "t", Tokens(9), 40);
    ASSERT_TRUE(Feed(twin_kv, *twin, Tokens(13), 4));
    std::vector<KvBlockCopy> copies, twin_copies;
    const std::vector<int32_t> next = Tokens(1, 900);
    ASSERT_TRUE(*kv.Reserve(*seq, next, copies));
    ASSERT_TRUE(*twin_kv.Reserve(*twin, next, twin_copies));
    EXPECT_TRUE(copies.empty());
    EXPECT_EQ(StepSlots(kv, *seq), StepSlots(twin_kv, *twin));
    EXPECT_EQ(seq->ScanLength(0), twin->ScanLength(0));
    kv.Release(*seq);
    kv.Release(*other);
    EXPECT_EQ(kv.pool().num_free_blocks(), 12);
  }
}

TEST(KvCacheManagerSwapTest, SwapInWaitsForRoomAndAFailedFillLeaksNothing) {
  KvCacheManager kv(SmallOptions(6));
  std::unique_ptr<SequenceKv> seq = kv.Begin(KvPolicy::Full(), "t", Tokens(12), 20);
  ASSERT_TRUE(Feed(kv, *seq, Tokens(12), 12));
  kv.SwapOut(*seq);
  std::unique_ptr<SequenceKv> hog = kv.Begin(KvPolicy::Full(), "t", Tokens(16, 300), 20);
  ASSERT_TRUE(Feed(kv, *hog, Tokens(16, 300), 16));  // 4 of 6 blocks
  EXPECT_FALSE(kv.SwapIn(*seq, [](int32_t, size_t) { return true; }));
  EXPECT_TRUE(seq->swapped());
  kv.Release(*hog);
  EXPECT_FALSE(kv.SwapIn(*seq, [](int32_t, size_t index) { return index < 1; }));
  EXPECT_TRUE(seq->swapped());
  EXPECT_EQ(kv.pool().num_free_blocks(), 6);
  kv.Release(*seq);  // a swapped sequence can be released: it stops being swapped
  EXPECT_FALSE(seq->swapped());
  EXPECT_EQ(kv.pool().num_free_blocks(), 6);
}

}  // namespace
}  // namespace gqa
