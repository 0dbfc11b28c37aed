#include "kvstore/redis/redis_connection.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/testing/fake_redis_node.h"

namespace gqa::kvstore {
namespace {

absl::Time In(absl::Duration d) { return absl::Now() + d; }

std::string BulkReply(std::string s) {
  std::string out;
  AppendReply(RespValue::Bulk(std::move(s)), &out);
  return out;
}

TEST(RedisAddressTest, ParsesHostPort) {
  absl::StatusOr<RedisAddress> a = ParseRedisAddress("127.0.0.1:6379");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6379);
  EXPECT_EQ(ParseRedisAddress("localhost:1")->ToString(), "localhost:1");
  EXPECT_EQ(ParseRedisAddress("redis-0.redis:65535")->port, 65535);
  absl::StatusOr<RedisAddress> v6 = ParseRedisAddress("[::1]:7000");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:7000");
}

TEST(RedisAddressTest, RejectsMalformed) {
  for (const char* text :
       {"", "host", ":6379", "host:", "host:0", "host:65536", "host:abc", "host:+1", "host:-1",
        "::1:6379", "[::1]", "[::1]6379", "[]:1", "a b:1", "host:1234567"}) {
    const absl::Status status = ParseRedisAddress(text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "\"" << text << "\"";
    EXPECT_NE(status.message().find("malformed Redis address"), absl::string_view::npos);
  }
}

TEST(RedisConnectionTest, CallRoundTripsBinaryArguments) {
  auto node =
      FakeRedisNode::Start([](const std::vector<std::string>& args) -> std::optional<std::string> {
        if (args.size() == 2 && args[0] == "ECHO") return BulkReply(args[1]);
        return std::string("-ERR unknown\r\n");
      });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  const std::string binary("\0\r\n$3\r\n*\0", 10);
  absl::StatusOr<RespValue> reply = (*connection)->Call({"ECHO", binary}, In(absl::Seconds(5)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->str, binary);
  // An error reply is a reply, not a failed call.
  reply = (*connection)->Call({"NOPE"}, In(absl::Seconds(5)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->is_error());
  EXPECT_FALSE((*connection)->broken());
}

TEST(RedisConnectionTest, PipelinedCommandsReplyInOrder) {
  auto node = FakeRedisNode::Start([](const std::vector<std::string>& args) {
    return std::optional<std::string>(BulkReply(args[1]));
  });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  std::string request;
  for (const char* word : {"a", "b", "c"}) AppendCommand({"ECHO", word}, &request);
  ASSERT_TRUE((*connection)->Send(request, In(absl::Seconds(5))).ok());
  for (const char* word : {"a", "b", "c"}) {
    absl::StatusOr<RespValue> reply = (*connection)->ReadReply(In(absl::Seconds(5)));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->str, word);
  }
}

TEST(RedisConnectionTest, RefusedConnectionIsUnavailableAndNamesTheAddress) {
  RedisAddress address;
  {
    auto node = FakeRedisNode::Start(
        [](const std::vector<std::string>&) { return std::optional<std::string>("+OK\r\n"); });
    ASSERT_TRUE(node.ok()) << node.status();
    address = (*node)->address();
  }  // closed: nothing listens there now
  const absl::Status status = RedisConnection::Connect(address, In(absl::Seconds(2))).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find(address.ToString()), absl::string_view::npos) << status;
}

TEST(RedisConnectionTest, SilentServerTimesOutAsUnavailable) {
  auto node = FakeRedisNode::Start(
      [](const std::vector<std::string>&) { return std::optional<std::string>(""); });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  const absl::Time start = absl::Now();
  const absl::Status status =
      (*connection)->Call({"GET", "k"}, In(absl::Milliseconds(200))).status();
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find((*node)->address().ToString()), absl::string_view::npos);
  EXPECT_GE(elapsed, absl::Milliseconds(190));
  EXPECT_LT(elapsed, absl::Seconds(2));
  EXPECT_TRUE((*connection)->broken());
  EXPECT_FALSE((*connection)->Call({"PING"}, In(absl::Seconds(1))).ok());
}

TEST(RedisConnectionTest, ClosedByServerIsUnavailable) {
  auto node = FakeRedisNode::Start(
      [](const std::vector<std::string>&) { return std::optional<std::string>(); });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  const absl::Status status = (*connection)->Call({"GET", "k"}, In(absl::Seconds(5))).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("closed"), absl::string_view::npos) << status;
}

TEST(RedisConnectionTest, MalformedReplyBreaksTheConnection) {
  auto node = FakeRedisNode::Start([](const std::vector<std::string>&) {
    return std::optional<std::string>("HTTP/1.1 400 Bad Request\r\n");
  });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  const absl::Status status = (*connection)->Call({"PING"}, In(absl::Seconds(5))).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("malformed RESP"), absl::string_view::npos) << status;
  EXPECT_TRUE((*connection)->broken());
}

TEST(RedisConnectionTest, LargeValueCrossesManyReads) {
  const std::string big(3 << 20, 'v');
  auto node = FakeRedisNode::Start([&big](const std::vector<std::string>& args) {
    return std::optional<std::string>(args[1] == big ? BulkReply(big) : "-ERR mismatch\r\n");
  });
  ASSERT_TRUE(node.ok()) << node.status();
  auto connection = RedisConnection::Connect((*node)->address(), In(absl::Seconds(5)));
  ASSERT_TRUE(connection.ok()) << connection.status();
  absl::StatusOr<RespValue> reply = (*connection)->Call({"ECHO", big}, In(absl::Seconds(10)));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->str, big);
}

}  // namespace
}  // namespace gqa::kvstore
