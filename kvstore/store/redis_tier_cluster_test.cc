// The Redis tier and a Redis-backed TieredBlockStore against a real Redis
// Cluster (three redis-server processes, kvstore/redis/testing/). Skipped
// when redis-server is not installed.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kvstore/redis/redis_cluster_client.h"
#include "kvstore/redis/testing/redis_cluster_fixture.h"
#include "kvstore/store/redis_tier.h"
#include "kvstore/store/testing/test_blocks.h"
#include "kvstore/store/tiered_block_store.h"

namespace gqa::kvstore {
namespace {

using testing::LogicalId;
using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

class RedisTierClusterTest : public ::testing::Test {
 protected:
  // One cluster for the suite (starting one takes a second or two).
  static void SetUpTestSuite() {
    if (!RedisClusterFixture::CheckRedisInstalled().ok()) return;
    absl::StatusOr<std::unique_ptr<RedisClusterFixture>> cluster = RedisClusterFixture::Start();
    if (cluster.ok()) {
      cluster_ = cluster->release();
    } else {
      start_error_ = new absl::Status(cluster.status());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    const absl::Status installed = RedisClusterFixture::CheckRedisInstalled();
    if (!installed.ok()) GTEST_SKIP() << installed.message();
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    ASSERT_NE(cluster_, nullptr);
  }

  static std::unique_ptr<RedisClusterClient> Connect() {
    RedisClusterOptions options;
    options.seed_addresses = cluster_->SeedAddresses();
    absl::StatusOr<std::unique_ptr<RedisClusterClient>> client =
        RedisClusterClient::Connect(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // A Redis-only store, as one kvstore process of several would run.
  static std::unique_ptr<TieredBlockStore> OpenStore(const std::string& key_prefix) {
    TieredBlockStoreOptions options;
    options.memory_bytes = 0;
    options.redis = Connect();
    options.redis_key_prefix = key_prefix;
    absl::StatusOr<std::unique_ptr<TieredBlockStore>> store =
        TieredBlockStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static RedisClusterFixture* cluster_;
  static absl::Status* start_error_;
};

RedisClusterFixture* RedisTierClusterTest::cluster_ = nullptr;
absl::Status* RedisTierClusterTest::start_error_ = nullptr;

TEST_F(RedisTierClusterTest, StoresServesAndDeletesAcrossProcesses) {
  auto store = OpenStore("t1:");
  auto other = OpenStore("t1:");  // a second kvstore process on the same cluster
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(*store->Put(MakeBlock(PrefixKey("t", i), i), 0), PutOutcome::kStored);
  }
  EXPECT_EQ(*other->Put(MakeBlock(PrefixKey("t", 0), 0), 0), PutOutcome::kAlreadyPresent);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(other->Get(PrefixKey("t", i))->payload, MakeBlock(PrefixKey("t", i), i).payload);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(LogicalId(i));
  EXPECT_EQ(*other->Lookup("t", {0, 1}, DType::kF16, ids), 8);
  EXPECT_EQ(*other->Lookup("u", {0, 1}, DType::kF16, ids), 0);  // another tenant
  EXPECT_EQ(other->Get(PrefixKey("u", 0)).status().code(), absl::StatusCode::kNotFound);

  // A swap sequence over three shards, deleted by the other process.
  for (int shard = 0; shard < 3; ++shard) {
    for (int idx = 0; idx < 4; ++idx) {
      ASSERT_TRUE(
          store->Put(MakeBlock(SwapKey("t", "inst/req", idx, {shard, 1}), idx), 60'000).ok());
    }
  }
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "inst/other", 0), 1), 60'000).ok());
  EXPECT_EQ(other->Get(SwapKey("t", "inst/req", 3, {2, 1}))->payload,
            MakeBlock(SwapKey("t", "inst/req", 3, {2, 1}), 3).payload);
  EXPECT_EQ(*other->DeleteSwapSequence("t", "inst/req"), 12);
  EXPECT_EQ(store->Get(SwapKey("t", "inst/req", 0, {0, 1})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->Get(SwapKey("t", "inst/other", 0)).ok());
  const StoreStats stats = store->Stats();
  ASSERT_EQ(stats.tiers.size(), 1u);
  EXPECT_EQ(stats.tiers[0].tier, TierKind::kRedis);
  EXPECT_EQ(stats.tiers[0].num_prefix_blocks, 8);
}

TEST_F(RedisTierClusterTest, SwapTtlIsRedisPx) {
  auto store = OpenStore("t2:");
  ASSERT_TRUE(store->Put(MakeBlock(SwapKey("t", "s", 0), 1), 150).ok());
  EXPECT_TRUE(store->Get(SwapKey("t", "s", 0)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store->Get(SwapKey("t", "s", 0)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RedisTierClusterTest, CorruptValueIsDroppedNotServed) {
  auto client = Connect();
  RedisTierOptions options;
  options.client = client.get();
  options.env = Env::Default();
  options.key_prefix = "t3:";
  auto tier = *RedisTier::Create(std::move(options));
  const BlockKey key = PrefixKey("t", 1);
  ASSERT_TRUE(tier->Put(std::make_shared<const Block>(MakeBlock(key, 1)), 0).ok());
  const std::string redis_key = tier->BlockRedisKey(key);
  std::string value = **client->Get(redis_key);
  value[value.size() / 2] ^= 1;
  ASSERT_TRUE(client->Set(redis_key, value).ok());
  EXPECT_EQ(tier->Get(key).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  EXPECT_FALSE(*client->Exists(redis_key));
}

}  // namespace
}  // namespace gqa::kvstore
