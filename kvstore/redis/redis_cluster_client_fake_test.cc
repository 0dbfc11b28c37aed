// RedisClusterClient against in-process fake nodes: retries, redirection
// bounds, error mapping and concurrency, without a real Redis.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kvstore/redis/hash_slot.h"
#include "kvstore/redis/redis_cluster_client.h"
#include "kvstore/redis/resp.h"
#include "kvstore/redis/testing/fake_redis_node.h"

namespace gqa::kvstore {
namespace {

using Args = std::vector<std::string>;

// CLUSTER SLOTS naming `owner` for slots [first, last].
std::string SlotsReply(const RedisAddress& owner, int first = 0, int last = kNumHashSlots - 1) {
  std::string out;
  AppendReply(RespValue::Array({RespValue::Array(
                  {RespValue::Integer(first), RespValue::Integer(last),
                   RespValue::Array({RespValue::Bulk(owner.host), RespValue::Integer(owner.port),
                                     RespValue::Bulk("fake-id")})})}),
              &out);
  return out;
}

std::string Bulk(std::string s) {
  std::string out;
  AppendReply(RespValue::Bulk(std::move(s)), &out);
  return out;
}

// A fake node that owns every slot (or whatever `slots_owner` says), answers
// CLUSTER SLOTS itself and passes other commands to `handler`.
class ScriptedNode {
 public:
  explicit ScriptedNode(std::function<std::string(const Args&)> handler)
      : handler_(std::move(handler)) {
    auto node = FakeRedisNode::Start([this](const Args& args) -> std::optional<std::string> {
      {
        absl::MutexLock lock(&mu_);
        log_.push_back(args);
      }
      if (args.size() == 2 && args[0] == "CLUSTER" && args[1] == "SLOTS") {
        absl::MutexLock lock(&mu_);
        return SlotsReply(slots_owner_.value_or(node_->address()));
      }
      return handler_(args);
    });
    EXPECT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }
  const RedisAddress& address() const { return node_->address(); }
  void set_slots_owner(const RedisAddress& owner) {
    absl::MutexLock lock(&mu_);
    slots_owner_ = owner;
  }
  // How many commands named `name` arrived.
  int Count(absl::string_view name) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const Args& args : log_) n += args[0] == name;
    return n;
  }
  std::vector<Args> Log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }

 private:
  std::function<std::string(const Args&)> handler_;
  absl::Mutex mu_;
  std::vector<Args> log_ ABSL_GUARDED_BY(mu_);
  std::optional<RedisAddress> slots_owner_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<FakeRedisNode> node_;  // last: stops before the rest goes
};

RedisClusterOptions OptionsFor(const RedisAddress& seed) {
  RedisClusterOptions options;
  options.seed_addresses = {seed.ToString()};
  options.connect_timeout = absl::Seconds(1);
  options.command_timeout = absl::Seconds(2);
  return options;
}

TEST(RedisClusterClientFakeTest, MalformedSeedIsInvalidArgument) {
  RedisClusterOptions options;
  options.seed_addresses = {"127.0.0.1:6379", "no-port-here"};
  const absl::Status status = RedisClusterClient::Connect(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("no-port-here"), absl::string_view::npos) << status;
  options.seed_addresses = {};
  EXPECT_EQ(RedisClusterClient::Connect(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RedisClusterClientFakeTest, NoSeedReachableIsUnavailable) {
  RedisClusterOptions options;
  for (int i = 0; i < 2; ++i) {
    auto node = FakeRedisNode::Start([](const Args&) { return std::optional<std::string>(); });
    ASSERT_TRUE(node.ok());
    options.seed_addresses.push_back((*node)->address().ToString());
  }  // both stopped: nothing listens on either port
  const absl::Time start = absl::Now();
  const absl::Status status = RedisClusterClient::Connect(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  for (const std::string& seed : options.seed_addresses) {
    EXPECT_NE(status.message().find(seed), absl::string_view::npos) << status;
  }
}

TEST(RedisClusterClientFakeTest, SeedWithoutClusterSupportIsUnavailable) {
  auto node = FakeRedisNode::Start([](const Args&) -> std::optional<std::string> {
    return std::string("-ERR This instance has cluster support disabled\r\n");
  });
  ASSERT_TRUE(node.ok()) << node.status();
  const absl::Status status = RedisClusterClient::Connect(OptionsFor((*node)->address())).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("cluster support disabled"), absl::string_view::npos) << status;
}

TEST(RedisClusterClientFakeTest, PartialSlotCoverageIsUnavailable) {
  ScriptedNode node([](const Args&) { return "+OK\r\n"; });
  node.set_slots_owner(node.address());
  auto partial = FakeRedisNode::Start([&](const Args&) -> std::optional<std::string> {
    return SlotsReply(node.address(), 0, 100);
  });
  ASSERT_TRUE(partial.ok()) << partial.status();
  const absl::Status status =
      RedisClusterClient::Connect(OptionsFor((*partial)->address())).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("101 of 16384"), absl::string_view::npos) << status;
}

TEST(RedisClusterClientFakeTest, TryAgainIsRetriedUntilItSucceeds) {
  std::atomic<int> num_gets{0};
  ScriptedNode node([&](const Args& args) -> std::string {
    if (args[0] != "GET") return "-ERR unexpected\r\n";
    if (++num_gets <= 3) return "-TRYAGAIN Multiple keys request during rehashing of slot\r\n";
    return Bulk("value");
  });
  auto client = RedisClusterClient::Connect(OptionsFor(node.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::optional<std::string>> value = (*client)->Get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value_or("<absent>"), "value");
  EXPECT_EQ(num_gets.load(), 4);
}

TEST(RedisClusterClientFakeTest, ClusterDownUntilTheDeadlineIsUnavailable) {
  ScriptedNode node([](const Args&) { return "-CLUSTERDOWN The cluster is down\r\n"; });
  RedisClusterOptions options = OptionsFor(node.address());
  options.command_timeout = absl::Milliseconds(300);
  auto client = RedisClusterClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Time start = absl::Now();
  const absl::Status status = (*client)->Set("k", "v");
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("CLUSTERDOWN"), absl::string_view::npos) << status;
  EXPECT_LT(elapsed, absl::Milliseconds(600));
  EXPECT_GE(node.Count("SET"), 3);  // retried with backoff, not once
}

TEST(RedisClusterClientFakeTest, EndlessMovedIsBoundedByMaxRedirections) {
  RedisAddress self;
  ScriptedNode node([&](const Args& args) {
    return absl::StrCat("-MOVED ", RedisClusterClient::HashSlot(args[1]), " ", self.ToString(),
                        "\r\n");
  });
  self = node.address();
  RedisClusterOptions options = OptionsFor(node.address());
  options.max_redirections = 3;
  auto client = RedisClusterClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  const absl::Status status = (*client)->Get("k").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("redirections"), absl::string_view::npos) << status;
  EXPECT_EQ(node.Count("GET"), 4);
}

TEST(RedisClusterClientFakeTest, MovedUpdatesTheSlotMap) {
  ScriptedNode b([](const Args& args) { return args[0] == "GET" ? Bulk("from-b") : "-ERR\r\n"; });
  b.set_slots_owner(b.address());
  ScriptedNode a([&](const Args& args) {
    return absl::StrCat("-MOVED ", RedisClusterClient::HashSlot(args[1]), " ",
                        b.address().ToString(), "\r\n");
  });
  auto client = RedisClusterClient::Connect(OptionsFor(a.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  a.set_slots_owner(b.address());  // from now on every node agrees on b
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::optional<std::string>> value = (*client)->Get("k");
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value_or(""), "from-b");
  }
  EXPECT_EQ(a.Count("GET"), 1);
  EXPECT_EQ(b.Count("GET"), 3);
}

TEST(RedisClusterClientFakeTest, AskIsFollowedOnceWithAskingAndLeavesTheMap) {
  ScriptedNode b([](const Args& args) {
    if (args[0] == "ASKING") return std::string("+OK\r\n");
    return args[0] == "GET" ? Bulk("from-b") : std::string("-ERR\r\n");
  });
  ScriptedNode a([&](const Args& args) {
    return absl::StrCat("-ASK ", RedisClusterClient::HashSlot(args[1]), " ", b.address().ToString(),
                        "\r\n");
  });
  auto client = RedisClusterClient::Connect(OptionsFor(a.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::optional<std::string>> value = (*client)->Get("k");
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value_or(""), "from-b");
  }
  EXPECT_EQ(a.Count("GET"), 2);  // each command starts at the map's owner again
  const std::vector<Args> log = b.Log();
  ASSERT_EQ(log.size(), 4u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(log[2 * i][0], "ASKING");
    EXPECT_EQ(log[2 * i + 1], (Args{"GET", "k"}));
  }
}

TEST(RedisClusterClientFakeTest, SetSendsPxOnlyWithATtl) {
  ScriptedNode node([](const Args&) { return "+OK\r\n"; });
  auto client = RedisClusterClient::Connect(OptionsFor(node.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Set("k", "v").ok());
  ASSERT_TRUE((*client)->Set("k", "v", 1500).ok());
  const std::vector<Args> log = node.Log();
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log[log.size() - 2], (Args{"SET", "k", "v"}));
  EXPECT_EQ(log.back(), (Args{"SET", "k", "v", "PX", "1500"}));
}

TEST(RedisClusterClientFakeTest, ErrorRepliesMapToStatusCodes) {
  ScriptedNode node([](const Args& args) -> std::string {
    if (args[0] == "GET") return "-WRONGTYPE Operation against a key holding the wrong kind\r\n";
    if (args[0] == "SET") return "-OOM command not allowed when used memory > 'maxmemory'\r\n";
    return ":7\r\n";
  });
  auto client = RedisClusterClient::Connect(OptionsFor(node.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Get("k").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*client)->Set("k", "v").code(), absl::StatusCode::kResourceExhausted);
  absl::StatusOr<bool> existed = (*client)->Delete("k");
  ASSERT_TRUE(existed.ok()) << existed.status();
  EXPECT_TRUE(*existed);
}

TEST(RedisClusterClientFakeTest, ConcurrentCallersDoNotWaitForEachOther) {
  constexpr int kThreads = 8;
  constexpr absl::Duration kDelay = absl::Milliseconds(200);
  ScriptedNode node([&](const Args&) {
    absl::SleepFor(kDelay);
    return Bulk("slow");
  });
  auto client = RedisClusterClient::Connect(OptionsFor(node.address()));
  ASSERT_TRUE(client.ok()) << client.status();
  std::atomic<int> num_ok{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { num_ok += (*client)->Get(absl::StrCat("key", i)).ok(); });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(num_ok.load(), kThreads);
  EXPECT_LT(absl::Now() - start, kDelay * kThreads / 2);
}

}  // namespace
}  // namespace gqa::kvstore
