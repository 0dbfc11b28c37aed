#include "kvstore/store/memory_tier.h"

#include <memory>

#include "gtest/gtest.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::ChargeOf;
using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

constexpr int64_t kSecond = 1'000'000'000;

BlockRef Ref(const BlockKey& key, uint64_t seed = 1) {
  return std::make_shared<const Block>(MakeBlock(key, seed));
}

// Capacities in prefix blocks (a swap block here is 23 bytes smaller).
int64_t Blocks(int64_t n) { return n * ChargeOf(MakeBlock(PrefixKey("t", 0), 0)); }

class MemoryTierTest : public ::testing::Test {
 protected:
  std::unique_ptr<MemoryTier> NewTier(int64_t capacity, Tier* next = nullptr,
                                      ReplacementPolicyFactory policy = nullptr) {
    MemoryTierOptions options;
    options.capacity_bytes = capacity;
    options.env = env_.get();
    options.next = next;
    options.policy_factory = std::move(policy);
    return std::make_unique<MemoryTier>(std::move(options));
  }
  bool Has(Tier& tier, const BlockKey& key) { return *tier.Contains(key); }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
};

TEST_F(MemoryTierTest, StoresAndReadsBack) {
  auto tier = NewTier(Blocks(4));
  const Block block = MakeBlock(PrefixKey("t", 1), 42);
  EXPECT_EQ(*tier->Put(std::make_shared<const Block>(block), 0), PutOutcome::kStored);
  absl::StatusOr<Block> got = tier->Get(block.key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, block.payload);
  EXPECT_EQ(got->payload_crc32c, block.payload_crc32c);
  EXPECT_EQ(*tier->Put(Ref(block.key, 99), 0), PutOutcome::kAlreadyPresent);
  EXPECT_EQ(tier->Get(block.key)->payload, block.payload);  // the first one kept
  const TierStats stats = tier->Stats();
  EXPECT_EQ(stats.tier, TierKind::kMemory);
  EXPECT_EQ(stats.capacity_bytes, Blocks(4));
  EXPECT_EQ(stats.used_bytes, ChargeOf(block));  // payload + header + checksums
  EXPECT_EQ(stats.num_prefix_blocks, 1);
  EXPECT_EQ(stats.num_hits, 2);
}

TEST_F(MemoryTierTest, EvictsTheLeastRecentlyUsedPrefixBlock) {
  auto tier = NewTier(Blocks(3));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i)), 0).ok());
  ASSERT_TRUE(tier->Get(PrefixKey("t", 1)).ok());  // 2 is now the least recently used
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 4)), 0).ok());
  EXPECT_TRUE(Has(*tier, PrefixKey("t", 1)));
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 2)));
  EXPECT_TRUE(Has(*tier, PrefixKey("t", 3)));
  EXPECT_TRUE(Has(*tier, PrefixKey("t", 4)));
  EXPECT_EQ(tier->Stats().num_evictions, 1);
}

TEST_F(MemoryTierTest, PolicyIsPluggable) {
  auto tier = NewTier(Blocks(2), nullptr, NewFifoPolicy);
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 2)), 0).ok());
  ASSERT_TRUE(tier->Get(PrefixKey("t", 1)).ok());  // FIFO ignores it
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 3)), 0).ok());
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 1)));
  EXPECT_TRUE(Has(*tier, PrefixKey("t", 2)));
}

TEST_F(MemoryTierTest, PrefixBlocksGoBeforeSwapBlocksAndSwapNeverEvictsSwap) {
  auto tier = NewTier(Blocks(3));
  const int64_t expiry = 600 * kSecond;
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0)), expiry).ok());  // the oldest
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 2)), 0).ok());
  // A new swap block evicts the oldest prefix block, not the older swap block.
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "B", 0)), expiry).ok());
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 1)));
  EXPECT_TRUE(Has(*tier, SwapKey("t", "A", 0)));
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "C", 0)), expiry).ok());
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 2)));
  // Only other sequences' swap blocks left: nothing may go.
  absl::StatusOr<PutOutcome> refused = tier->Put(Ref(SwapKey("t", "D", 0)), expiry);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  refused = tier->Put(Ref(SwapKey("t", "A", 1)), expiry);  // no next tier to demote A/0 to
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  refused = tier->Put(Ref(PrefixKey("t", 3)), 0);  // a prefix block never evicts swap
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  for (const char* seq : {"A", "B", "C"}) EXPECT_TRUE(Has(*tier, SwapKey("t", seq, 0))) << seq;
  EXPECT_EQ(tier->Stats().num_swap_blocks, 3);
  EXPECT_EQ(tier->Stats().num_evictions, 2);
  // Replacing a swap block in place needs no room.
  EXPECT_EQ(*tier->Put(Ref(SwapKey("t", "A", 0), 5), expiry), PutOutcome::kStored);
  EXPECT_EQ(tier->Get(SwapKey("t", "A", 0))->payload, MakeBlock(SwapKey("t", "A", 0), 5).payload);
}

TEST_F(MemoryTierTest, DemotesToTheNextTier) {
  auto next = NewTier(Blocks(10));
  auto tier = NewTier(Blocks(2), next.get());
  const int64_t expiry = 600 * kSecond;
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "B", 0)), expiry).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0)), expiry).ok());  // demotes prefix 1
  EXPECT_TRUE(Has(*next, PrefixKey("t", 1)));
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 1)));
  // A sequence may demote its own older swap blocks, never B's.
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 1)), expiry).ok());
  EXPECT_TRUE(Has(*next, SwapKey("t", "A", 0)));
  EXPECT_TRUE(Has(*tier, SwapKey("t", "B", 0)));
  EXPECT_TRUE(Has(*tier, SwapKey("t", "A", 1)));
  // The demoted swap block keeps its expiry.
  env_->AdvanceClock(expiry);
  EXPECT_FALSE(Has(*next, SwapKey("t", "A", 0)));
  EXPECT_EQ(tier->Stats().num_evictions, 2);
}

TEST_F(MemoryTierTest, SwapBlockStaysWhenTheNextTierRefusesIt) {
  auto next = NewTier(1);  // smaller than any block
  auto tier = NewTier(Blocks(1), next.get());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0)), kSecond).ok());
  absl::StatusOr<PutOutcome> refused = tier->Put(Ref(SwapKey("t", "A", 1)), kSecond);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Has(*tier, SwapKey("t", "A", 0)));
  // A prefix block the next tier refuses is dropped (counted as evicted).
  auto prefix_tier = NewTier(Blocks(1), next.get());
  ASSERT_TRUE(prefix_tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(prefix_tier->Put(Ref(PrefixKey("t", 2)), 0).ok());
  EXPECT_FALSE(Has(*prefix_tier, PrefixKey("t", 1)));
  EXPECT_EQ(prefix_tier->Stats().num_evictions, 1);
}

TEST_F(MemoryTierTest, SwapBlocksExpireLazilyAndBySweep) {
  auto tier = NewTier(Blocks(10));
  const int64_t now = env_->NowNanos();
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0)), now + 2 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 1)), now + 2 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "B", 0)), now + 5 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  env_->AdvanceClock(2 * kSecond - 1);
  EXPECT_TRUE(tier->Get(SwapKey("t", "A", 0)).ok());
  env_->AdvanceClock(1);
  EXPECT_EQ(tier->Get(SwapKey("t", "A", 0)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tier->num_expired_swap_blocks(), 1);
  EXPECT_EQ(tier->SweepExpired(), 1);  // A/1
  EXPECT_EQ(tier->Stats().num_swap_blocks, 1);
  env_->AdvanceClock(3 * kSecond);
  EXPECT_EQ(tier->SweepExpired(), 1);  // B/0
  EXPECT_EQ(tier->num_expired_swap_blocks(), 3);
  const TierStats stats = tier->Stats();
  EXPECT_EQ(stats.num_swap_blocks, 0);
  EXPECT_EQ(stats.num_prefix_blocks, 1);  // prefix blocks never expire
  EXPECT_EQ(stats.used_bytes, Blocks(1));
}

TEST_F(MemoryTierTest, CorruptBlockIsDroppedCountedAndNeverServed) {
  auto tier = NewTier(Blocks(4));
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(tier->CorruptPayloadForTesting(PrefixKey("t", 1)));
  EXPECT_EQ(tier->Get(PrefixKey("t", 1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(Has(*tier, PrefixKey("t", 1)));
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  EXPECT_EQ(tier->Stats().used_bytes, 0);
}

TEST_F(MemoryTierTest, DeletesBlocksAndWholeSequences) {
  auto tier = NewTier(Blocks(10));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", i, {i, 1})), kSecond).ok());
  }
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "AB", 0)), kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("u", "A", 0)), kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  EXPECT_EQ(*tier->DeleteSwapSequence("t", "A"), 3);
  EXPECT_EQ(*tier->DeleteSwapSequence("t", "A"), 0);
  EXPECT_TRUE(Has(*tier, SwapKey("t", "AB", 0)));
  EXPECT_TRUE(Has(*tier, SwapKey("u", "A", 0)));
  EXPECT_TRUE(*tier->Delete(PrefixKey("t", 1)));
  EXPECT_FALSE(*tier->Delete(PrefixKey("t", 1)));
  EXPECT_EQ(tier->Stats().num_swap_blocks, 2);
}

TEST_F(MemoryTierTest, RefusesABlockLargerThanItself) {
  auto tier = NewTier(Blocks(1) - 1);
  EXPECT_EQ(tier->Put(Ref(PrefixKey("t", 1)), 0).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace gqa::kvstore
