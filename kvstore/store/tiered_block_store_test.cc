#include "kvstore/store/tiered_block_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kvstore/store/testing/fake_redis_cluster_client.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::ChargeOf;
using testing::LogicalId;
using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

constexpr int64_t kTtlMs = 60'000;

int64_t PrefixCharge() { return ChargeOf(MakeBlock(PrefixKey("t", 0), 0)); }

class TieredBlockStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<TieredBlockStore> Open(int64_t memory_bytes, int64_t disk_bytes = 0) {
    TieredBlockStoreOptions options;
    options.env = env_.get();
    options.memory_bytes = memory_bytes;
    if (disk_bytes > 0) {
      options.disk_dir = "/store";
      options.disk_bytes = disk_bytes;
      options.disk_segment_bytes = 4096;
    }
    absl::StatusOr<std::unique_ptr<TieredBlockStore>> store =
        TieredBlockStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  static void ExpectServes(BlockStore& store, const BlockKey& key, uint64_t seed) {
    absl::StatusOr<Block> got = store.Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->key, key);
    EXPECT_EQ(got->payload, MakeBlock(key, seed).payload);
  }
  static void ExpectMiss(BlockStore& store, const BlockKey& key) {
    EXPECT_EQ(store.Get(key).status().code(), absl::StatusCode::kNotFound);
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
};

TEST_F(TieredBlockStoreTest, PutsGetsAndValidates) {
  auto store = Open(1 << 20);
  EXPECT_EQ(*store->Put(MakeBlock(PrefixKey("t", 1), 1), 0), PutOutcome::kStored);
  EXPECT_EQ(*store->Put(MakeBlock(PrefixKey("t", 1), 2), 0), PutOutcome::kAlreadyPresent);
  ExpectServes(*store, PrefixKey("t", 1), 1);
  EXPECT_EQ(*store->Put(MakeBlock(SwapKey("t", "A", 0), 1), kTtlMs), PutOutcome::kStored);

  EXPECT_EQ(store->Put(MakeBlock(PrefixKey("t", 2), 1), 5).status().code(),
            absl::StatusCode::kInvalidArgument);  // a TTL on a prefix block
  EXPECT_EQ(store->Put(MakeBlock(SwapKey("t", "A", 1), 1), 0).status().code(),
            absl::StatusCode::kInvalidArgument);  // a swap block without one
  Block bad_crc = MakeBlock(PrefixKey("t", 3), 1);
  bad_crc.payload_crc32c ^= 1;
  EXPECT_EQ(store->Put(bad_crc, 0).status().code(), absl::StatusCode::kDataLoss);
  Block short_payload = MakeBlock(PrefixKey("t", 4), 1);
  short_payload.payload.pop_back();
  EXPECT_EQ(store->Put(short_payload, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Get(PrefixKey("", 1)).status().code(), absl::StatusCode::kInvalidArgument);
  ExpectMiss(*store, PrefixKey("t", 3));
  const StoreStats stats = store->Stats();
  ASSERT_EQ(stats.tiers.size(), 1u);
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 1);
  EXPECT_EQ(stats.tiers[0].num_swap_blocks, 1);
  EXPECT_EQ(stats.tiers[0].used_bytes,
            PrefixCharge() + ChargeOf(MakeBlock(SwapKey("t", "A", 0), 1)));
  EXPECT_EQ(stats.num_misses, 1);
}

TEST_F(TieredBlockStoreTest, AnotherTenantsBlocksReadAsAbsent) {
  auto store = Open(1 << 20, 1 << 20);
  ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("alice", 1), 1), 0).ok());
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("alice", "A", 0), 1), kTtlMs).ok());
  ExpectMiss(*store, PrefixKey("bob", 1));
  ExpectMiss(*store, SwapKey("bob", "A", 0));
  const std::vector<std::string> ids = {LogicalId(1)};
  EXPECT_EQ(*store->Lookup("bob", {0, 1}, DType::kF16, ids), 0);
  EXPECT_EQ(*store->Lookup("alice", {0, 1}, DType::kF16, ids), 1);
  const std::vector<BlockKey> bobs = {PrefixKey("bob", 1), SwapKey("bob", "A", 0)};
  EXPECT_EQ(*store->Delete(bobs), 0);
  EXPECT_EQ(*store->DeleteSwapSequence("bob", "A"), 0);
  ExpectServes(*store, PrefixKey("alice", 1), 1);
  ExpectServes(*store, SwapKey("alice", "A", 0), 1);
  // Bob may store his own block under the same id; each sees only his own.
  ASSERT_EQ(*store->Put(MakeBlock(PrefixKey("bob", 1), 2), 0), PutOutcome::kStored);
  ExpectServes(*store, PrefixKey("bob", 1), 2);
  ExpectServes(*store, PrefixKey("alice", 1), 1);
}

TEST_F(TieredBlockStoreTest, LookupCountsLeadingPresentBlocks) {
  auto store = Open(3 * PrefixCharge(), 1 << 20);  // some ids end up on disk
  for (int i : {0, 1, 2, 4, 5}) ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("t", i), i), 0).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(LogicalId(i));
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kF16, ids), 3);
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kF16, absl::MakeSpan(ids).subspan(0, 2)), 2);
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kF16, absl::MakeSpan(ids).subspan(3)), 0);
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kF16, absl::MakeSpan(ids).subspan(4)), 2);
  EXPECT_EQ(*store->Lookup("t", {1, 1}, DType::kF16, ids), 0);   // another shard
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kBF16, ids), 0);  // another dtype
  ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("t", 3), 3), 0).ok());
  EXPECT_EQ(*store->Lookup("t", {0, 1}, DType::kF16, ids), 6);
  const std::vector<std::string> bad = {"short"};
  EXPECT_EQ(store->Lookup("t", {0, 1}, DType::kF16, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TieredBlockStoreTest, DemotesToDiskServesFromDiskAndPromotes) {
  auto store = Open(3 * PrefixCharge(), 1 << 20);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("t", i), i), 0).ok());
  StoreStats stats = store->Stats();
  ASSERT_EQ(stats.tiers.size(), 2u);
  EXPECT_EQ(stats.tiers[0].tier, TierKind::kMemory);
  EXPECT_EQ(stats.tiers[1].tier, TierKind::kDisk);
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 3);
  EXPECT_EQ(stats.tiers[0].num_evictions, 3);
  EXPECT_EQ(stats.tiers[1].num_prefix_blocks, 3);  // the three oldest, demoted
  EXPECT_EQ(stats.tiers[1].capacity_bytes, 1 << 20);
  EXPECT_FALSE(*store->memory_tier_for_testing()->Contains(PrefixKey("t", 0)));

  ExpectServes(*store, PrefixKey("t", 0), 0);  // from disk
  stats = store->Stats();
  EXPECT_EQ(stats.tiers[1].num_hits, 1);
  EXPECT_EQ(stats.tiers[0].num_hits, 0);
  // Promoted: the next read is a memory hit.
  EXPECT_TRUE(*store->memory_tier_for_testing()->Contains(PrefixKey("t", 0)));
  ExpectServes(*store, PrefixKey("t", 0), 0);
  EXPECT_EQ(store->Stats().tiers[0].num_hits, 1);
  // A prefix key held by any tier is already present.
  EXPECT_EQ(*store->Put(MakeBlock(PrefixKey("t", 1), 9), 0), PutOutcome::kAlreadyPresent);
}

TEST_F(TieredBlockStoreTest, CorruptCopyIsNeverServedButAnIntactOneBelowIs) {
  auto store = Open(3 * PrefixCharge(), 1 << 20);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("t", i), i), 0).ok());
  ExpectServes(*store, PrefixKey("t", 0), 0);  // disk hit, promoted: now in both tiers
  ASSERT_TRUE(store->memory_tier_for_testing()->CorruptPayloadForTesting(PrefixKey("t", 0)));
  ExpectServes(*store, PrefixKey("t", 0), 0);  // the memory copy is dropped, disk serves
  ASSERT_TRUE(store->memory_tier_for_testing()->CorruptPayloadForTesting(PrefixKey("t", 3)));
  ExpectMiss(*store, PrefixKey("t", 3));  // only copy: dropped, a miss
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.tiers[0].num_corrupt_dropped, 2);
  EXPECT_EQ(stats.num_misses, 1);
}

TEST_F(TieredBlockStoreTest, SwapBlocksSpillToDiskAndLeaveOnlyByDeleteOrTtl) {
  const int64_t swap_charge = ChargeOf(MakeBlock(SwapKey("t", "A", 0), 0));
  auto store = Open(2 * swap_charge, 1 << 20);
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "A", 0), 1), kTtlMs).ok());
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "B", 0), 2), kTtlMs).ok());
  // Memory holds A and B; C may not evict them, so it goes to disk.
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "C", 0), 3), kTtlMs).ok());
  StoreStats stats = store->Stats();
  EXPECT_EQ(stats.tiers[0].num_swap_blocks, 2);
  EXPECT_EQ(stats.tiers[1].num_swap_blocks, 1);
  EXPECT_EQ(stats.tiers[0].num_evictions, 0);
  ExpectServes(*store, SwapKey("t", "C", 0), 3);
  EXPECT_EQ(store->Stats().tiers[1].num_hits, 1);
  EXPECT_FALSE(*store->memory_tier_for_testing()->Contains(SwapKey("t", "C", 0)));  // no promotion
  // A's next block demotes A's older one (its own sequence), never B's.
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "A", 1), 4), kTtlMs).ok());
  EXPECT_TRUE(*store->memory_tier_for_testing()->Contains(SwapKey("t", "B", 0)));
  EXPECT_TRUE(*store->disk_tier_for_testing()->Contains(SwapKey("t", "A", 0)));
  ExpectServes(*store, SwapKey("t", "A", 0), 1);
  // Re-putting a demoted swap block replaces it: one copy, the new bytes.
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "A", 0), 5), kTtlMs).ok());
  ExpectServes(*store, SwapKey("t", "A", 0), 5);
  stats = store->Stats();
  EXPECT_EQ(stats.tiers[0].num_swap_blocks + stats.tiers[1].num_swap_blocks, 4);
  // A sequence's blocks go together, from every tier.
  EXPECT_EQ(*store->DeleteSwapSequence("t", "A"), 2);
  ExpectMiss(*store, SwapKey("t", "A", 0));
  ExpectMiss(*store, SwapKey("t", "A", 1));
  // And by TTL.
  env_->AdvanceClock(kTtlMs * 1'000'000);
  ExpectMiss(*store, SwapKey("t", "B", 0));
  EXPECT_EQ(store->SweepExpired(), 1);  // C, on disk
  stats = store->Stats();
  EXPECT_EQ(stats.num_expired_swap_blocks, 2);
  EXPECT_EQ(stats.tiers[0].num_swap_blocks + stats.tiers[1].num_swap_blocks, 0);
  EXPECT_EQ(stats.num_misses, 3);
}

TEST_F(TieredBlockStoreTest, MemoryOnlySwapSpaceFullIsResourceExhausted) {
  const int64_t swap_charge = ChargeOf(MakeBlock(SwapKey("t", "A", 0), 0));
  auto store = Open(2 * swap_charge);
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "A", 0), 1), kTtlMs).ok());
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "B", 0), 1), kTtlMs).ok());
  absl::StatusOr<PutOutcome> full = store->Put(MakeBlock(SwapKey("t", "C", 0), 1), kTtlMs);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  ExpectServes(*store, SwapKey("t", "A", 0), 1);
  ExpectServes(*store, SwapKey("t", "B", 0), 1);
  // Expired swap blocks make room again (swept by the next Put).
  env_->AdvanceClock(kTtlMs * 1'000'000);
  EXPECT_TRUE(store->Put(MakeBlock(SwapKey("t", "C", 0), 1), kTtlMs).ok());
  EXPECT_EQ(store->Stats().num_expired_swap_blocks, 2);
}

TEST_F(TieredBlockStoreTest, ReplicatedKvHeadsAreStoredOnce) {
  auto store = Open(1 << 20);
  // tp 6 over 3 KV heads: ranks 0 and 1 both hold head 0, shard {0, 1}.
  EXPECT_EQ(*store->Put(MakeBlock(PrefixKey("t", 1, {0, 1}), 1), 0), PutOutcome::kStored);
  EXPECT_EQ(*store->Put(MakeBlock(PrefixKey("t", 1, {0, 1}), 1), 0), PutOutcome::kAlreadyPresent);
  EXPECT_EQ(*store->Put(MakeBlock(SwapKey("t", "A", 0, {0, 1}), 1), kTtlMs), PutOutcome::kStored);
  EXPECT_EQ(*store->Put(MakeBlock(SwapKey("t", "A", 0, {0, 1}), 1), kTtlMs), PutOutcome::kStored);
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 1);
  EXPECT_EQ(stats.tiers[0].num_swap_blocks, 1);
}

TEST_F(TieredBlockStoreTest, RedisBelowMemory) {
  auto redis = std::make_unique<testing::FakeRedisClusterClient>(env_.get());
  testing::FakeRedisClusterClient* fake = redis.get();
  TieredBlockStoreOptions options;
  options.env = env_.get();
  options.memory_bytes = 2 * PrefixCharge();
  options.redis = std::move(redis);
  auto store = *TieredBlockStore::Open(std::move(options));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->Put(MakeBlock(PrefixKey("t", i), i), 0).ok());
  StoreStats stats = store->Stats();
  ASSERT_EQ(stats.tiers.size(), 2u);
  EXPECT_EQ(stats.tiers[1].tier, TierKind::kRedis);
  EXPECT_EQ(stats.tiers[1].num_prefix_blocks, 2);  // demoted
  ExpectServes(*store, PrefixKey("t", 0), 0);
  EXPECT_EQ(store->Stats().tiers[1].num_hits, 1);
  fake->SetUnavailable(true);
  ExpectServes(*store, PrefixKey("t", 3), 3);  // memory still serves
  EXPECT_EQ(store->Get(PrefixKey("t", 9)).status().code(), absl::StatusCode::kUnavailable);
  fake->SetUnavailable(false);
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "A", 0), 1), kTtlMs).ok());
  EXPECT_EQ(*store->DeleteSwapSequence("t", "A"), 1);
}

TEST_F(TieredBlockStoreTest, RefusesInconsistentOptions) {
  TieredBlockStoreOptions none;
  none.env = env_.get();
  none.memory_bytes = 0;
  EXPECT_EQ(TieredBlockStore::Open(std::move(none)).status().code(),
            absl::StatusCode::kInvalidArgument);
  TieredBlockStoreOptions no_disk_bytes;
  no_disk_bytes.env = env_.get();
  no_disk_bytes.disk_dir = "/d";
  EXPECT_EQ(TieredBlockStore::Open(std::move(no_disk_bytes)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TieredBlockStoreTest, ConcurrentPutsAndGetsStayConsistent) {
  // Small memory so that blocks keep moving to disk while others read them.
  auto store = Open(8 * PrefixCharge(), 1 << 20);
  constexpr int kThreads = 4;
  constexpr int kOps = 300;
  std::atomic<int> num_wrong{0};
  std::atomic<int> num_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string seq = "seq" + std::to_string(t);
      for (int i = 0; i < kOps; ++i) {
        const int id = (i * 7 + t) % 24;  // shared ids: the same content from every thread
        absl::StatusOr<PutOutcome> put = store->Put(MakeBlock(PrefixKey("t", id), id), 0);
        if (!put.ok()) ++num_errors;
        absl::StatusOr<Block> got = store->Get(PrefixKey("t", (id + 5) % 24));
        if (got.ok() &&
            got->payload != MakeBlock(PrefixKey("t", (id + 5) % 24), (id + 5) % 24).payload) {
          ++num_wrong;
        } else if (!got.ok() && !absl::IsNotFound(got.status())) {
          ++num_errors;
        }
        const BlockKey swap = SwapKey("t", seq, i % 4);
        if (!store->Put(MakeBlock(swap, i), kTtlMs).ok()) ++num_errors;
        absl::StatusOr<Block> mine = store->Get(swap);
        if (!mine.ok() || mine->payload != MakeBlock(swap, i).payload) ++num_wrong;
        if (i % 50 == 49 && !store->DeleteSwapSequence("t", seq).ok()) ++num_errors;
        std::vector<std::string> ids = {LogicalId(0), LogicalId(1)};
        if (!store->Lookup("t", {0, 1}, DType::kF16, ids).ok()) ++num_errors;
        (void)store->Stats();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(num_wrong.load(), 0);
  EXPECT_EQ(num_errors.load(), 0);
  const StoreStats stats = store->Stats();
  EXPECT_LE(stats.tiers[0].used_bytes, stats.tiers[0].capacity_bytes);
  EXPECT_LE(stats.tiers[1].used_bytes, stats.tiers[1].capacity_bytes);
}

TEST(TieredBlockStoreTraitsTest, OnlyAMemoryOnlyStorePromisesNoIo) {
  std::unique_ptr<MemEnv> env = NewMemEnv();
  TieredBlockStoreOptions memory;
  memory.env = env.get();
  memory.memory_bytes = 1 << 20;
  auto memory_only = TieredBlockStore::Open(std::move(memory));
  ASSERT_TRUE(memory_only.ok()) << memory_only.status();
  EXPECT_TRUE((*memory_only)->traits().memory_only);
  EXPECT_TRUE((*memory_only)->traits().get_verifies_payload);

  TieredBlockStoreOptions with_disk;
  with_disk.env = env.get();
  with_disk.memory_bytes = 1 << 20;
  with_disk.disk_dir = "/store";
  with_disk.disk_bytes = 1 << 20;
  auto tiered = TieredBlockStore::Open(std::move(with_disk));
  ASSERT_TRUE(tiered.ok()) << tiered.status();
  EXPECT_FALSE((*tiered)->traits().memory_only);
  EXPECT_FALSE((*tiered)->traits().get_verifies_payload);
}

TEST_F(TieredBlockStoreTest, PutCheckedTrustsTheCallerButReadsStillVerify) {
  auto store = Open(1 << 20);
  EXPECT_EQ(*store->PutChecked(MakeBlock(PrefixKey("t", 1), 1), 0), PutOutcome::kStored);
  ExpectServes(*store, PrefixKey("t", 1), 1);
  // A caller breaking PutChecked's promise: the bad block is taken, but it
  // is never served; the read drops and counts it.
  Block bad = MakeBlock(PrefixKey("t", 2), 2);
  bad.payload[0] ^= 0x01;
  EXPECT_EQ(store->Put(bad, 0).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*store->PutChecked(bad, 0), PutOutcome::kStored);
  ExpectMiss(*store, PrefixKey("t", 2));
  EXPECT_EQ(store->Stats().tiers[0].num_corrupt_dropped, 1);
  // Validation is not skipped: a payload of the wrong size is still refused.
  Block short_block = MakeBlock(PrefixKey("t", 3), 3);
  short_block.payload.pop_back();
  EXPECT_EQ(store->PutChecked(short_block, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa::kvstore
