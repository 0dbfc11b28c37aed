#include "worker/kv/block_pool.h"

#include <random>
#include <set>

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(BlockPoolTest, AllocatesDistinctBlocksUntilEmpty) {
  BlockPool pool(5);
  auto a = pool.TryAllocate(3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_FALSE(pool.TryAllocate(3).has_value());  // not now, and nothing taken
  EXPECT_EQ(pool.num_free_blocks(), 2);
  auto b = pool.TryAllocate(2);
  ASSERT_TRUE(b.has_value());
  std::set<int32_t> all(a->begin(), a->end());
  all.insert(b->begin(), b->end());
  EXPECT_EQ(all.size(), 5u);
}

TEST(BlockPoolTest, SharedBlocksReturnWhenTheLastOwnerFrees) {
  BlockPool pool(4);
  auto a = *pool.TryAllocate(2);
  pool.Touch(a);
  EXPECT_EQ(pool.ref_count(a[0]), 2);
  pool.Free(a);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.Free(a);
  EXPECT_EQ(pool.num_free_blocks(), 4);
}

TEST(BlockPoolTest, RandomizedOwnershipNeverLeaks) {
  std::mt19937 rng(11);
  BlockPool pool(64);
  std::vector<std::vector<int32_t>> owners;
  for (int step = 0; step < 5000; ++step) {
    const int action = rng() % 3;
    if (action == 0) {
      if (auto blocks = pool.TryAllocate(rng() % 6)) owners.push_back(*blocks);
    } else if (action == 1 && !owners.empty()) {
      auto shared = owners[rng() % owners.size()];
      pool.Touch(shared);
      owners.push_back(shared);
    } else if (!owners.empty()) {
      const size_t idx = rng() % owners.size();
      pool.Free(owners[idx]);
      owners.erase(owners.begin() + idx);
    }
  }
  for (const auto& blocks : owners) pool.Free(blocks);
  EXPECT_EQ(pool.num_free_blocks(), 64);
}

BlockId IdOf(int n) { return ChildBlockId(RootBlockId("m", "t"), std::vector<int32_t>{n}); }

TEST(BlockPoolTest, PublishedBlocksStayFindableUntilReused) {
  BlockPool pool(2);
  auto a = *pool.TryAllocate(1);
  pool.Publish(a[0], IdOf(1));
  EXPECT_EQ(pool.Find(IdOf(1)), a[0]);
  EXPECT_FALSE(pool.Find(IdOf(2)).has_value());
  pool.Free(a);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  ASSERT_EQ(pool.Find(IdOf(1)), a[0]);  // free, but its contents are still there
  pool.Share(a[0]);                     // revived by a later request
  EXPECT_EQ(pool.ref_count(a[0]), 1);
  EXPECT_EQ(pool.num_free_blocks(), 1);
  pool.Free(a);
  // Allocation takes the least recently freed block first: the other one.
  auto b = *pool.TryAllocate(1);
  EXPECT_NE(b[0], a[0]);
  EXPECT_TRUE(pool.Find(IdOf(1)).has_value());
  auto c = *pool.TryAllocate(1);  // now the cached block is overwritten
  EXPECT_EQ(c[0], a[0]);
  EXPECT_FALSE(pool.Find(IdOf(1)).has_value());
  EXPECT_EQ(pool.num_published_blocks(), 0);
}

TEST(BlockPoolTest, AnIdIsPublishedOnce) {
  BlockPool pool(2);
  auto a = *pool.TryAllocate(2);
  pool.Publish(a[0], IdOf(1));
  pool.Publish(a[1], IdOf(1));  // same contents computed twice: the first stays
  EXPECT_EQ(pool.Find(IdOf(1)), a[0]);
  EXPECT_EQ(pool.PublishedIds().size(), 1u);
}

TEST(BlockPoolTest, RecordsStoredAndRemovedIdsOnlyWhenAsked) {
  BlockPool pool(1);
  auto a = *pool.TryAllocate(1);
  pool.Publish(a[0], IdOf(1));
  std::vector<BlockId> removed, stored;
  pool.TakeEvents(removed, stored);
  EXPECT_TRUE(stored.empty());  // not recording yet
  pool.set_record_events(true);
  pool.Free(a);
  a = *pool.TryAllocate(1);  // reuses the published block: IdOf(1) leaves
  pool.Publish(a[0], IdOf(2));
  pool.TakeEvents(removed, stored);
  EXPECT_EQ(removed, std::vector<BlockId>{IdOf(1)});
  EXPECT_EQ(stored, std::vector<BlockId>{IdOf(2)});
  pool.TakeEvents(removed, stored);
  EXPECT_TRUE(removed.empty() && stored.empty());
}

TEST(BlockPoolTest, ClearCacheDropsUnownedBlocksOfATenantOrOfAll) {
  BlockPool pool(3);
  auto a = *pool.TryAllocate(3);
  pool.Publish(a[0], IdOf(1), "alice");
  pool.Publish(a[1], IdOf(2), "bob");
  pool.Publish(a[2], IdOf(3), "alice");
  pool.Free({&a[0], 2});  // a[2] stays owned by a live sequence
  EXPECT_EQ(pool.ClearCache("carol"), 0);
  EXPECT_EQ(pool.ClearCache("alice"), 1);
  EXPECT_FALSE(pool.Find(IdOf(1)).has_value());
  EXPECT_TRUE(pool.Find(IdOf(3)).has_value());  // live: kept
  EXPECT_EQ(pool.ClearCache(""), 1);            // bob's
  EXPECT_EQ(pool.num_published_blocks(), 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
}

TEST(BlockPoolDeathTest, DoubleFreeIsABug) {
  BlockPool pool(2);
  auto a = *pool.TryAllocate(1);
  pool.Free(a);
  EXPECT_DEATH(pool.Free(a), "double free");
}

}  // namespace
}  // namespace gqa
