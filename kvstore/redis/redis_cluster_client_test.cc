// RedisClusterClient against a real 3-master Redis Cluster (redis-server
// processes started by RedisClusterFixture): values, TTLs, routing, live
// slot migration (MOVED and ASK) and a dead master.
#include "kvstore/redis/redis_cluster_client.h"

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kvstore/redis/testing/redis_cluster_fixture.h"

namespace gqa::kvstore {
namespace {

class RedisClusterClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Status installed = RedisClusterFixture::CheckRedisInstalled();
    if (!installed.ok()) GTEST_SKIP() << installed.message();
    absl::StatusOr<std::unique_ptr<RedisClusterFixture>> cluster = RedisClusterFixture::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::unique_ptr<RedisClusterClient>> client =
        RedisClusterClient::Connect(Options());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  RedisClusterOptions Options() const {
    RedisClusterOptions options;
    options.seed_addresses = cluster_->SeedAddresses();
    options.connect_timeout = absl::Seconds(1);
    options.command_timeout = absl::Seconds(2);
    return options;
  }

  void ExpectValue(const std::string& key, const std::string& want) {
    absl::StatusOr<std::optional<std::string>> got = client_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "key absent";
    EXPECT_TRUE(**got == want) << "value of " << got->value().size() << " bytes differs from "
                               << want.size() << " bytes";
  }

  // A key whose slot node `node_idx` serves.
  std::string KeyOnNode(int node_idx, absl::string_view prefix) {
    for (int i = 0;; ++i) {
      std::string key = absl::StrCat(prefix, i);
      absl::StatusOr<int> owner = cluster_->OwnerOf(RedisClusterClient::HashSlot(key));
      if (owner.ok() && *owner == node_idx) return key;
    }
  }

  // The "errorstat_<code>:count=N" of a node (INFO errorstats), 0 when absent.
  int64_t ErrorCount(int node_idx, absl::string_view code) {
    absl::StatusOr<RespValue> info = cluster_->Command(node_idx, {"INFO", "errorstats"});
    EXPECT_TRUE(info.ok()) << info.status();
    const std::string prefix = absl::StrCat("errorstat_", code, ":count=");
    for (absl::string_view line : absl::StrSplit(info.ok() ? info->str : "", "\r\n")) {
      int64_t n = 0;
      if (absl::StartsWith(line, prefix) && absl::SimpleAtoi(line.substr(prefix.size()), &n)) {
        return n;
      }
    }
    return 0;
  }

  int64_t CountKeysInSlot(int node_idx, uint16_t slot) {
    absl::StatusOr<RespValue> reply =
        cluster_->Command(node_idx, {"CLUSTER", "COUNTKEYSINSLOT", absl::StrCat(slot)});
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? reply->integer : -1;
  }

  std::unique_ptr<RedisClusterFixture> cluster_;
  std::unique_ptr<RedisClusterClient> client_;  // after cluster_: destroyed first
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST_F(RedisClusterClientTest, BinaryValuesRoundTrip) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"nul", std::string(1, '\0')},
      {"crlf", "\r\n"},
      {"resp-lookalike", "$5\r\n*1\r\n-ERR\r\n"},
      {"mixed", std::string("a\0b\r\nc\0\r", 8)},
      {"all-bytes", all_bytes},
      {std::string("key\0with\r\nbytes", 15), "binary key"},
      {"random", RandomBytes(4096, 1)},
  };
  for (const auto& [key, value] : cases) {
    ASSERT_TRUE(client_->Set(key, value).ok()) << key;
  }
  for (const auto& [key, value] : cases) ExpectValue(key, value);
}

TEST_F(RedisClusterClientTest, OneMebibyteValuesRoundTrip) {
  for (int i = 0; i < 6; ++i) {
    const std::string value = RandomBytes(1 << 20, 100 + i);
    const std::string key = absl::StrCat("big", i);
    ASSERT_TRUE(client_->Set(key, value).ok()) << key;
    ExpectValue(key, value);
  }
}

TEST_F(RedisClusterClientTest, TtlExpires) {
  ASSERT_TRUE(client_->Set("short", "v", /*ttl_ms=*/150).ok());
  ASSERT_TRUE(client_->Set("forever", "v").ok());
  ASSERT_TRUE(client_->Set("long", "v", /*ttl_ms=*/60000).ok());
  EXPECT_TRUE(*client_->Exists("short"));
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (*client_->Exists("short") && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(*client_->Exists("short"));
  EXPECT_FALSE(client_->Get("short")->has_value());
  EXPECT_TRUE(*client_->Exists("forever"));
  EXPECT_TRUE(*client_->Exists("long"));
  // The TTL really is PX milliseconds on the server.
  const int owner = *cluster_->OwnerOf(RedisClusterClient::HashSlot("long"));
  absl::StatusOr<RespValue> pttl = cluster_->Command(owner, {"PTTL", "long"});
  ASSERT_TRUE(pttl.ok()) << pttl.status();
  EXPECT_GT(pttl->integer, 50000);
  EXPECT_LE(pttl->integer, 60000);
}

TEST_F(RedisClusterClientTest, DeleteAndExists) {
  EXPECT_FALSE(*client_->Exists("k"));
  EXPECT_FALSE(*client_->Delete("k"));
  ASSERT_TRUE(client_->Set("k", "v").ok());
  EXPECT_TRUE(*client_->Exists("k"));
  EXPECT_TRUE(*client_->Delete("k"));
  EXPECT_FALSE(*client_->Exists("k"));
  EXPECT_FALSE(*client_->Delete("k"));
  EXPECT_FALSE(client_->Get("k")->has_value());
}

TEST_F(RedisClusterClientTest, KeysSpreadOverAllMasters) {
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(client_->Set(absl::StrCat("spread", i), "v").ok());
  int64_t total = 0;
  for (int node = 0; node < 3; ++node) {
    absl::StatusOr<RespValue> size = cluster_->Command(node, {"DBSIZE"});
    ASSERT_TRUE(size.ok()) << size.status();
    EXPECT_GT(size->integer, kKeys / 6) << "node " << node;
    total += size->integer;
  }
  EXPECT_EQ(total, kKeys);
  // Each key sits on the master that serves its slot.
  for (int i = 0; i < kKeys; i += 7) {
    const std::string key = absl::StrCat("spread", i);
    const int owner = *cluster_->OwnerOf(RedisClusterClient::HashSlot(key));
    absl::StatusOr<RespValue> exists = cluster_->Command(owner, {"EXISTS", key});
    ASSERT_TRUE(exists.ok()) << exists.status();
    EXPECT_EQ(exists->integer, 1) << key;
  }
}

TEST_F(RedisClusterClientTest, SeedsMayIncludeDeadNodes) {
  RedisClusterOptions options = Options();
  options.seed_addresses.insert(options.seed_addresses.begin(), "127.0.0.1:1");
  absl::StatusOr<std::unique_ptr<RedisClusterClient>> client = RedisClusterClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Set("via-second-seed", "v").ok());
  EXPECT_EQ((*client)->Get("via-second-seed")->value_or(""), "v");
}

// Several threads SET and GET (a quarter of their keys in one hot slot)
// while the hot slot migrates between all three masters: every operation
// must succeed and every GET return the last value its thread wrote.
TEST_F(RedisClusterClientTest, SlotMovesDuringConcurrentTraffic) {
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 40;
  const uint16_t hot_slot = RedisClusterClient::HashSlot("{hot}");
  const int first_owner = *cluster_->OwnerOf(hot_slot);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> num_ops{0};
  absl::Mutex mu;
  std::vector<std::string> failures;  // guarded by mu
  const auto fail = [&](std::string what) {
    absl::MutexLock lock(&mu);
    if (failures.size() < 10) failures.push_back(std::move(what));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::map<std::string, std::string> expected;
      std::mt19937 rng(t);
      for (int64_t i = 0; !stop.load(); ++i) {
        const int k = static_cast<int>(rng() % kKeysPerThread);
        const std::string key =
            k % 4 == 0 ? absl::StrCat("{hot}t", t, "k", k) : absl::StrCat("t", t, "k", k);
        if (rng() % 2 == 0 || expected.count(key) == 0) {
          const std::string value = absl::StrCat(key, "=", i);
          const absl::Status status = client_->Set(key, value);
          if (!status.ok()) fail(absl::StrCat("SET ", key, ": ", status.ToString()));
          expected[key] = value;
        } else {
          absl::StatusOr<std::optional<std::string>> got = client_->Get(key);
          if (!got.ok()) {
            fail(absl::StrCat("GET ", key, ": ", got.status().ToString()));
          } else if (got->value_or("<absent>") != expected[key]) {
            fail(absl::StrCat("GET ", key, " = ", got->value_or("<absent>"), ", want ",
                              expected[key]));
          }
        }
        ++num_ops;
      }
      for (const auto& [key, value] : expected) {
        absl::StatusOr<std::optional<std::string>> got = client_->Get(key);
        if (!got.ok() || got->value_or("<absent>") != value) fail(absl::StrCat("final ", key));
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  // Around the ring and back home: three live migrations under load.
  for (int hop = 1; hop <= 3; ++hop) {
    const int to = (first_owner + hop) % 3;
    const absl::Status moved = cluster_->MoveSlot(hot_slot, to, /*batch_keys=*/3);
    EXPECT_TRUE(moved.ok()) << moved;
    absl::SleepFor(absl::Milliseconds(100));
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(*cluster_->OwnerOf(hot_slot), first_owner);
  EXPECT_GT(num_ops.load(), 100);
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures[0];
  // Make sure the traffic really met the migrations (typically ~10 MOVED and
  // ~100 ASK replies over ~15k operations).
  int64_t num_moved = 0;
  int64_t num_ask = 0;
  for (int node = 0; node < 3; ++node) {
    num_moved += ErrorCount(node, "MOVED");
    num_ask += ErrorCount(node, "ASK");
  }
  EXPECT_GT(num_moved, 0) << "the client never met a MOVED; the test did not test it";
  EXPECT_GT(num_ask, 0) << "the client never met an ASK; the test did not test it";
}

TEST_F(RedisClusterClientTest, AskDuringHalfFinishedMigration) {
  constexpr int kKeys = 20;
  const uint16_t slot = RedisClusterClient::HashSlot("{ask}");
  const int source = *cluster_->OwnerOf(slot);
  const int target = (source + 1) % 3;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(client_->Set(absl::StrCat("{ask}", i), absl::StrCat("v", i)).ok());
  }
  ASSERT_TRUE(cluster_->BeginSlotMigration(slot, target, /*max_keys=*/kKeys / 2).ok());
  ASSERT_EQ(CountKeysInSlot(target, slot), kKeys / 2);
  for (int node = 0; node < 3; ++node)
    ASSERT_TRUE(cluster_->Command(node, {"CONFIG", "RESETSTAT"}).ok());

  for (int i = 0; i < kKeys; ++i) ExpectValue(absl::StrCat("{ask}", i), absl::StrCat("v", i));
  // A new key of a migrating slot is created on the target.
  ASSERT_TRUE(client_->Set("{ask}new", "fresh").ok());
  EXPECT_EQ(CountKeysInSlot(target, slot), kKeys / 2 + 1);
  ExpectValue("{ask}new", "fresh");
  EXPECT_TRUE(*client_->Exists("{ask}new"));

  // Each moved key cost one ASK; the client never asked the target without
  // ASKING, so it did not take the target for the slot's owner.
  EXPECT_EQ(ErrorCount(source, "ASK"), kKeys / 2 + 3);
  EXPECT_EQ(ErrorCount(target, "MOVED"), 0);
  EXPECT_EQ(ErrorCount(source, "MOVED"), 0);

  ASSERT_TRUE(cluster_->FinishSlotMigration(slot).ok());
  for (int i = 0; i < kKeys; ++i) ExpectValue(absl::StrCat("{ask}", i), absl::StrCat("v", i));
  EXPECT_TRUE(*client_->Delete("{ask}new"));
  EXPECT_EQ(ErrorCount(source, "MOVED"), 1);  // the map was refreshed after the first MOVED
}

TEST_F(RedisClusterClientTest, KilledMasterIsUnavailableWithinTheTimeout) {
  const int victim = 2;
  const std::string dead_key = KeyOnNode(victim, "dead");
  const std::string live_key = KeyOnNode(0, "live");
  ASSERT_TRUE(client_->Set(dead_key, "v").ok());  // pools a connection to the victim
  ASSERT_TRUE(client_->Set(live_key, "v").ok());
  ASSERT_TRUE(cluster_->KillNode(victim).ok());

  for (int attempt = 0; attempt < 3; ++attempt) {
    const absl::Time start = absl::Now();
    const absl::Status status = client_->Get(dead_key).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_LE(absl::Now() - start, Options().command_timeout + absl::Milliseconds(500));
    EXPECT_NE(status.message().find(cluster_->address(victim).ToString()), absl::string_view::npos)
        << status;
  }
  EXPECT_EQ(client_->Set(dead_key, "w").code(), absl::StatusCode::kUnavailable);
  // The other masters keep serving their slots.
  ExpectValue(live_key, "v");
  ASSERT_TRUE(client_->Set(live_key, "w").ok());
  ExpectValue(live_key, "w");
}

// After a master dies and its slot is given to a survivor, the client learns
// the new owner from the surviving nodes (the dead one cannot tell it).
TEST_F(RedisClusterClientTest, SlotOfADeadMasterReassignedIsFound) {
  const int victim = 2;
  const int heir = 0;
  const std::string key = KeyOnNode(victim, "orphan");
  const uint16_t slot = RedisClusterClient::HashSlot(key);
  ASSERT_TRUE(client_->Set(key, "lost with the victim").ok());
  ASSERT_TRUE(cluster_->KillNode(victim).ok());
  EXPECT_EQ(client_->Get(key).status().code(), absl::StatusCode::kUnavailable);

  for (int node : {heir, 1}) {
    absl::StatusOr<RespValue> reply = cluster_->Command(
        node, {"CLUSTER", "SETSLOT", absl::StrCat(slot), "NODE", cluster_->node_id(heir)});
    ASSERT_TRUE(reply.ok() && !reply->is_error()) << reply.status() << " " << reply->DebugString();
  }
  ASSERT_EQ(*cluster_->OwnerOf(slot), heir);
  absl::SleepFor(absl::Milliseconds(100));  // past the client's refresh rate limit

  absl::StatusOr<std::optional<std::string>> got = client_->Get(key);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());  // the value died with the victim; the slot lives on
  ASSERT_TRUE(client_->Set(key, "reborn").ok());
  ExpectValue(key, "reborn");
  absl::StatusOr<RespValue> on_heir = cluster_->Command(heir, {"GET", key});
  ASSERT_TRUE(on_heir.ok()) << on_heir.status();
  EXPECT_EQ(on_heir->str, "reborn");
}

}  // namespace
}  // namespace gqa::kvstore
