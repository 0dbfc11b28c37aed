// MemoryBlockStore keeps the BlockStore contract: exact byte accounting,
// prefix blocks evicted least recently used first and never a swap block for
// another, swap TTLs on the injected clock, tenant scoping, corrupt records
// dropped and counted.
#include "kvstore/service/testing/memory_block_store.h"

#include "gtest/gtest.h"
#include "kvstore/service/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

constexpr int64_t kPayload = 1000;

class MemoryBlockStoreTest : public ::testing::Test {
 protected:
  MemoryBlockStore MakeStore(int64_t num_blocks) {
    MemoryBlockStoreOptions options;
    options.capacity_bytes = num_blocks * RecordOf(TestPrefixKey("t", 0));
    options.env = env_.get();
    return MemoryBlockStore(options);
  }
  static int64_t RecordOf(const BlockKey& key) {
    return MemoryBlockStore::RecordBytes(Block{key, Layout(), 0, std::string(kPayload, 'x')});
  }
  static BlockLayout Layout() { return TestLayoutOfBytes(kPayload, DType::kF16); }
  static Block Prefix(uint64_t seed, const std::string& tenant = "t") {
    return TestBlock(TestPrefixKey(tenant, seed), Layout(), seed);
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
};

TEST_F(MemoryBlockStoreTest, StoresAndReadsBack) {
  MemoryBlockStore store = MakeStore(4);
  const Block block = Prefix(1);
  ASSERT_EQ(*store.Put(block, 0), PutOutcome::kStored);
  absl::StatusOr<Block> got = store.Get(block.key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, block.payload);
  EXPECT_EQ(got->payload_crc32c, block.payload_crc32c);
  EXPECT_EQ(got->layout, block.layout);
  const StoreStats stats = store.Stats();
  ASSERT_EQ(stats.tiers.size(), 1u);
  EXPECT_EQ(stats.tiers[0].used_bytes, RecordOf(block.key));
  EXPECT_EQ(stats.tiers[0].used_bytes, kPayload + 1 + 32 + MemoryBlockStore::kRecordOverheadBytes);
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 1);
  EXPECT_EQ(stats.tiers[0].num_hits, 1);
}

TEST_F(MemoryBlockStoreTest, APrefixBlockIsStoredOnce) {
  MemoryBlockStore store = MakeStore(4);
  ASSERT_EQ(*store.Put(Prefix(1), 0), PutOutcome::kStored);
  EXPECT_EQ(*store.Put(Prefix(1), 0), PutOutcome::kAlreadyPresent);
  EXPECT_EQ(store.Stats().tiers[0].num_prefix_blocks, 1);
}

TEST_F(MemoryBlockStoreTest, ASwapBlockReplacesTheOldOne) {
  MemoryBlockStore store = MakeStore(4);
  const BlockKey key = TestSwapKey("t", "w/1", 0);
  ASSERT_EQ(*store.Put(TestBlock(key, Layout(), 1), 1000), PutOutcome::kStored);
  const Block second = TestBlock(key, Layout(), 2);
  ASSERT_EQ(*store.Put(second, 1000), PutOutcome::kStored);
  EXPECT_EQ(store.Get(key)->payload, second.payload);
  EXPECT_EQ(store.Stats().tiers[0].num_swap_blocks, 1);
}

TEST_F(MemoryBlockStoreTest, EvictsTheLeastRecentlyUsedPrefixBlock) {
  MemoryBlockStore store = MakeStore(3);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(store.Put(Prefix(i), 0).ok());
  ASSERT_TRUE(store.Get(Prefix(1).key).ok());  // 2 is now the least recent
  ASSERT_TRUE(store.Put(Prefix(4), 0).ok());
  EXPECT_TRUE(store.Get(Prefix(1).key).ok());
  EXPECT_EQ(store.Get(Prefix(2).key).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Get(Prefix(3).key).ok());
  EXPECT_TRUE(store.Get(Prefix(4).key).ok());
  EXPECT_EQ(store.Stats().tiers[0].num_evictions, 1);
}

TEST_F(MemoryBlockStoreTest, SwapBlocksEvictPrefixBlocksButNotEachOther) {
  MemoryBlockStore store = MakeStore(2);
  ASSERT_TRUE(store.Put(Prefix(1), 0).ok());
  // A swap record with seq_id "s" is smaller than a prefix record (whose id
  // is 32 bytes), so two swap blocks fit where two prefix blocks do.
  ASSERT_TRUE(store.Put(TestBlock(TestSwapKey("t", "s", 0), Layout(), 1), 1000).ok());
  ASSERT_TRUE(store.Put(TestBlock(TestSwapKey("t", "s", 1), Layout(), 2), 1000).ok());
  EXPECT_EQ(store.Get(Prefix(1).key).status().code(), absl::StatusCode::kNotFound);
  const absl::StatusOr<PutOutcome> full =
      store.Put(TestBlock(TestSwapKey("t", "other", 0), Layout(), 3), 1000);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.Put(Prefix(5), 0).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store.Get(TestSwapKey("t", "s", 0)).ok());
  EXPECT_TRUE(store.Get(TestSwapKey("t", "s", 1)).ok());
}

TEST_F(MemoryBlockStoreTest, ABlockLargerThanTheStoreIsRefused) {
  MemoryBlockStore store = MakeStore(1);
  const Block big =
      TestBlock(TestPrefixKey("t", 1), TestLayoutOfBytes(4 * kPayload, DType::kF16), 1);
  EXPECT_EQ(store.Put(big, 0).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(MemoryBlockStoreTest, SwapBlocksExpire) {
  MemoryBlockStore store = MakeStore(4);
  const BlockKey key = TestSwapKey("t", "w/1", 0);
  ASSERT_TRUE(store.Put(TestBlock(key, Layout(), 1), 50).ok());
  env_->AdvanceClock(49'000'000);
  EXPECT_TRUE(store.Get(key).ok());
  env_->AdvanceClock(1'000'000);
  EXPECT_EQ(store.Get(key).status().code(), absl::StatusCode::kNotFound);
  const StoreStats stats = store.Stats();
  EXPECT_EQ(stats.num_expired_swap_blocks, 1);
  EXPECT_EQ(stats.tiers[0].used_bytes, 0);
  EXPECT_EQ(stats.num_misses, 1);
}

TEST_F(MemoryBlockStoreTest, TenantsAreApart) {
  MemoryBlockStore store = MakeStore(4);
  ASSERT_TRUE(store.Put(Prefix(1, "a"), 0).ok());
  EXPECT_EQ(store.Get(Prefix(1, "b").key).status().code(), absl::StatusCode::kNotFound);
  const std::string id = TestLogicalId(1);
  EXPECT_EQ(*store.Lookup("a", KvShard{}, DType::kF16, {id}), 1);
  EXPECT_EQ(*store.Lookup("b", KvShard{}, DType::kF16, {id}), 0);
  EXPECT_EQ(*store.Delete({Prefix(1, "b").key}), 0);
  EXPECT_TRUE(store.Get(Prefix(1, "a").key).ok());
}

TEST_F(MemoryBlockStoreTest, LookupCountsTheLeadingRunOfOneShardAndDtype) {
  MemoryBlockStore store = MakeStore(8);
  for (uint64_t i : {1, 2, 4}) ASSERT_TRUE(store.Put(Prefix(i), 0).ok());
  const std::vector<std::string> chain = {TestLogicalId(1), TestLogicalId(2), TestLogicalId(3),
                                          TestLogicalId(4)};
  EXPECT_EQ(*store.Lookup("t", KvShard{}, DType::kF16, chain), 2);
  EXPECT_EQ(*store.Lookup("t", KvShard{}, DType::kBF16, chain), 0);
  EXPECT_EQ(*store.Lookup("t", KvShard{0, 2}, DType::kF16, chain), 0);
}

TEST_F(MemoryBlockStoreTest, DeletesKeysAndWholeSwapSequences) {
  MemoryBlockStore store = MakeStore(8);
  for (int64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(store.Put(TestBlock(TestSwapKey("t", "w/1", i), Layout(), i), 1000).ok());
  }
  ASSERT_TRUE(store.Put(TestBlock(TestSwapKey("t", "w/10", 0), Layout(), 9), 1000).ok());
  ASSERT_TRUE(store.Put(TestBlock(TestSwapKey("u", "w/1", 0), Layout(), 9), 1000).ok());
  EXPECT_EQ(*store.Delete({TestSwapKey("t", "w/1", 2), TestSwapKey("t", "w/1", 7)}), 1);
  EXPECT_EQ(*store.DeleteSwapSequence("t", "w/1"), 2);
  EXPECT_EQ(*store.DeleteSwapSequence("t", "w/1"), 0);
  EXPECT_TRUE(store.Get(TestSwapKey("t", "w/10", 0)).ok());
  EXPECT_TRUE(store.Get(TestSwapKey("u", "w/1", 0)).ok());
  EXPECT_EQ(store.Stats().tiers[0].num_swap_blocks, 2);
}

TEST_F(MemoryBlockStoreTest, ACorruptRecordIsDroppedCountedAndReadsAsAbsent) {
  MemoryBlockStore store = MakeStore(4);
  ASSERT_TRUE(store.Put(Prefix(1), 0).ok());
  ASSERT_TRUE(store.CorruptForTesting(Prefix(1).key).ok());
  EXPECT_EQ(store.Get(Prefix(1).key).status().code(), absl::StatusCode::kNotFound);
  const StoreStats stats = store.Stats();
  EXPECT_EQ(stats.tiers[0].num_corrupt_dropped, 1);
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 0);
  EXPECT_EQ(stats.tiers[0].used_bytes, 0);
  EXPECT_EQ(stats.num_misses, 1);
}

}  // namespace
}  // namespace gqa::kvstore
