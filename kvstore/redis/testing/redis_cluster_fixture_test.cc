#include "kvstore/redis/testing/redis_cluster_fixture.h"

#include <errno.h>
#include <signal.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kvstore/redis/redis_cluster_client.h"

namespace gqa::kvstore {
namespace {

class RedisClusterFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Status installed = RedisClusterFixture::CheckRedisInstalled();
    if (!installed.ok()) GTEST_SKIP() << installed.message();
    absl::StatusOr<std::unique_ptr<RedisClusterFixture>> cluster = RedisClusterFixture::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Writes `n` keys of one slot straight to its owner; returns the slot.
  uint16_t WriteKeysInOneSlot(int n) {
    const uint16_t slot = RedisClusterClient::HashSlot("{fixture}");
    const absl::StatusOr<int> owner = cluster_->OwnerOf(slot);
    EXPECT_TRUE(owner.ok()) << owner.status();
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<RespValue> reply =
          cluster_->Command(*owner, {"SET", absl::StrCat("{fixture}", i), "v"});
      EXPECT_TRUE(reply.ok() && !reply->is_error()) << reply.status();
    }
    return slot;
  }

  int64_t CountKeysInSlot(int node_idx, uint16_t slot) {
    absl::StatusOr<RespValue> reply =
        cluster_->Command(node_idx, {"CLUSTER", "COUNTKEYSINSLOT", absl::StrCat(slot)});
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->integer : -1;
  }

  std::unique_ptr<RedisClusterFixture> cluster_;
};

TEST_F(RedisClusterFixtureTest, ThreeMastersShareAllSlots) {
  ASSERT_EQ(cluster_->num_nodes(), 3);
  EXPECT_EQ(cluster_->SeedAddresses().size(), 3u);
  std::set<int> owners;
  for (uint16_t slot : {0, 8000, 16383}) {
    absl::StatusOr<int> owner = cluster_->OwnerOf(slot);
    ASSERT_TRUE(owner.ok()) << owner.status();
    owners.insert(*owner);
  }
  EXPECT_EQ(owners.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<RespValue> info = cluster_->Command(i, {"CLUSTER", "INFO"});
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(absl::StrContains(info->str, "cluster_state:ok")) << info->str;
    EXPECT_EQ(cluster_->node_id(i).size(), 40u);
  }
}

TEST_F(RedisClusterFixtureTest, DestructorLeavesNothingRunning) {
  std::vector<pid_t> pids;
  for (int i = 0; i < cluster_->num_nodes(); ++i) pids.push_back(cluster_->PidForTesting(i));
  const std::string dir = cluster_->root_dir();
  ASSERT_TRUE(std::filesystem::exists(dir));
  cluster_.reset();
  for (pid_t pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), -1) << "pid " << pid << " still exists";
    EXPECT_EQ(errno, ESRCH);
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(RedisClusterFixtureTest, MoveSlotMovesItsKeys) {
  const uint16_t slot = WriteKeysInOneSlot(25);
  const int from = *cluster_->OwnerOf(slot);
  const int to = (from + 1) % 3;
  ASSERT_TRUE(cluster_->MoveSlot(slot, to, /*batch_keys=*/7).ok());
  EXPECT_EQ(*cluster_->OwnerOf(slot), to);
  EXPECT_EQ(CountKeysInSlot(to, slot), 25);
  EXPECT_EQ(CountKeysInSlot(from, slot), 0);
  // Every node now sends clients to the new owner.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<RespValue> reply = cluster_->Command(i, {"GET", "{fixture}3"});
    ASSERT_TRUE(reply.ok()) << reply.status();
    if (i == to) {
      EXPECT_EQ(reply->str, "v");
    } else {
      EXPECT_TRUE(absl::StartsWith(reply->str, absl::StrCat("MOVED ", slot, " ")))
          << reply->DebugString();
    }
  }
}

TEST_F(RedisClusterFixtureTest, MigrationCanStopHalfway) {
  const uint16_t slot = WriteKeysInOneSlot(10);
  const int from = *cluster_->OwnerOf(slot);
  const int to = (from + 2) % 3;
  ASSERT_TRUE(cluster_->BeginSlotMigration(slot, to, /*max_keys=*/4).ok());
  EXPECT_EQ(CountKeysInSlot(from, slot), 6);
  EXPECT_EQ(CountKeysInSlot(to, slot), 4);
  EXPECT_EQ(*cluster_->OwnerOf(slot), from);
  EXPECT_EQ(cluster_->BeginSlotMigration(slot, to, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(cluster_->FinishSlotMigration(slot).ok());
  EXPECT_EQ(CountKeysInSlot(to, slot), 10);
  EXPECT_EQ(*cluster_->OwnerOf(slot), to);
  EXPECT_EQ(cluster_->FinishSlotMigration(slot).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedisClusterFixtureTest, KillNodeStopsOnlyThatNode) {
  ASSERT_TRUE(cluster_->KillNode(1).ok());
  EXPECT_EQ(cluster_->PidForTesting(1), -1);
  EXPECT_EQ(cluster_->SeedAddresses().size(), 2u);
  EXPECT_EQ(cluster_->Command(1, {"PING"}).status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<RespValue> pong = cluster_->Command(0, {"PING"});
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_EQ(pong->str, "PONG");
  EXPECT_EQ(cluster_->KillNode(1).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace gqa::kvstore
