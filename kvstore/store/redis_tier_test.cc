#include "kvstore/store/redis_tier.h"

#include <memory>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "kvstore/store/testing/fake_redis_cluster_client.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

constexpr int64_t kSecond = 1'000'000'000;

BlockRef Ref(const BlockKey& key, uint64_t seed = 1) {
  return std::make_shared<const Block>(MakeBlock(key, seed));
}

class RedisTierTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisTier> NewTier() {
    RedisTierOptions options;
    options.client = &redis_;
    options.env = env_.get();
    options.capacity_bytes = 1 << 30;
    absl::StatusOr<std::unique_ptr<RedisTier>> tier = RedisTier::Create(std::move(options));
    EXPECT_TRUE(tier.ok()) << tier.status();
    return *std::move(tier);
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
  testing::FakeRedisClusterClient redis_{env_.get()};
};

TEST_F(RedisTierTest, StoresChecksummedRecordsUnderHashedKeys) {
  auto tier = NewTier();
  const Block block = MakeBlock(PrefixKey("tenant {with} braces", 1), 3);
  EXPECT_EQ(*tier->Put(std::make_shared<const Block>(block), 0), PutOutcome::kStored);
  EXPECT_EQ(*tier->Put(Ref(block.key, 9), 0), PutOutcome::kAlreadyPresent);
  const std::string redis_key = tier->BlockRedisKey(block.key);
  EXPECT_TRUE(absl::StartsWith(redis_key, "gqa:kv:b:"));
  EXPECT_FALSE(absl::StrContains(redis_key, "{"));  // no user bytes in keys
  EXPECT_EQ(redis_.Keys(), std::vector<std::string>{redis_key});
  EXPECT_FALSE(redis_.PttlMs(redis_key).has_value());  // prefix blocks have no TTL
  absl::StatusOr<Block> got = tier->Get(block.key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, block.payload);
  EXPECT_TRUE(*tier->Contains(block.key));
  EXPECT_EQ(tier->Get(PrefixKey("other tenant", 1)).status().code(), absl::StatusCode::kNotFound);
  const TierStats stats = tier->Stats();
  EXPECT_EQ(stats.tier, TierKind::kRedis);
  EXPECT_EQ(stats.num_prefix_blocks, 1);
  EXPECT_EQ(stats.num_hits, 1);
  EXPECT_EQ(stats.used_bytes, testing::ChargeOf(block));
}

TEST_F(RedisTierTest, SwapBlocksCarryTheirTtlAndShareTheSequenceHashTag) {
  auto tier = NewTier();
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0)), env_->NowNanos() + 30 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 1, {1, 1})), env_->NowNanos() + 60 * kSecond).ok());
  const std::string k0 = tier->BlockRedisKey(SwapKey("t", "A", 0));
  const std::string k1 = tier->BlockRedisKey(SwapKey("t", "A", 1, {1, 1}));
  const std::string manifest = tier->ManifestRedisKey("t", "A");
  auto tag = [](const std::string& key) {
    return key.substr(key.find('{'), key.find('}') - key.find('{') + 1);
  };
  EXPECT_EQ(tag(k0), tag(k1));
  EXPECT_EQ(tag(k0), tag(manifest));
  EXPECT_NE(tag(k0), tag(tier->BlockRedisKey(SwapKey("t", "B", 0))));
  EXPECT_EQ(redis_.PttlMs(k0), 30'000);
  EXPECT_EQ(redis_.PttlMs(manifest), 60'000);  // lives as long as its longest block
  env_->AdvanceClock(30 * kSecond);
  EXPECT_EQ(tier->Get(SwapKey("t", "A", 0)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(tier->Get(SwapKey("t", "A", 1, {1, 1})).ok());
  EXPECT_EQ(tier->num_expired_swap_blocks(), 1);
  EXPECT_EQ(tier->Stats().num_evictions, 0);
}

TEST_F(RedisTierTest, DeleteSwapSequenceFindsBlocksThroughTheManifest) {
  auto writer = NewTier();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(writer
                    ->Put(Ref(SwapKey("t", "A", i, {i, 1}, i == 2 ? DType::kBF16 : DType::kF16)),
                          env_->NowNanos() + 60 * kSecond)
                    .ok());
  }
  ASSERT_TRUE(writer->Put(Ref(SwapKey("t", "B", 0)), env_->NowNanos() + 60 * kSecond).ok());
  // Another kvstore process (or this one after a restart) knows nothing of
  // these writes but finds them through the manifest.
  auto other = NewTier();
  EXPECT_EQ(*other->DeleteSwapSequence("t", "A"), 3);
  EXPECT_EQ(*other->DeleteSwapSequence("t", "A"), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(
        *writer->Contains(SwapKey("t", "A", i, {i, 1}, i == 2 ? DType::kBF16 : DType::kF16)));
  }
  EXPECT_TRUE(*writer->Contains(SwapKey("t", "B", 0)));
  const std::vector<std::string> keys = redis_.Keys();
  EXPECT_EQ(keys.size(), 2u);  // B's block and B's manifest
}

TEST_F(RedisTierTest, CorruptValueIsDroppedAndCounted) {
  auto tier = NewTier();
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  ASSERT_TRUE(redis_.CorruptValue(tier->BlockRedisKey(PrefixKey("t", 1))));
  EXPECT_EQ(tier->Get(PrefixKey("t", 1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  EXPECT_FALSE(*tier->Contains(PrefixKey("t", 1)));  // deleted from Redis
}

TEST_F(RedisTierTest, LostKeysAreMissesAndOutagesAreUnavailable) {
  auto tier = NewTier();
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  redis_.FlushAll();
  EXPECT_EQ(tier->Get(PrefixKey("t", 1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tier->Stats().num_evictions, 1);
  EXPECT_EQ(tier->Stats().num_prefix_blocks, 0);
  redis_.SetUnavailable(true);
  EXPECT_EQ(tier->Put(Ref(PrefixKey("t", 2)), 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tier->Get(PrefixKey("t", 2)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tier->DeleteSwapSequence("t", "A").status().code(), absl::StatusCode::kUnavailable);
  redis_.SetUnavailable(false);
  EXPECT_TRUE(tier->Put(Ref(PrefixKey("t", 2)), 0).ok());
}

TEST_F(RedisTierTest, RejectsHashTagsInTheKeyPrefix) {
  RedisTierOptions options;
  options.client = &redis_;
  options.env = env_.get();
  options.key_prefix = "gqa:{x}:";
  EXPECT_EQ(RedisTier::Create(std::move(options)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa::kvstore
