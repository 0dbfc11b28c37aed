#include "kvstore/redis/cluster_errors.h"

#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

TEST(ClusterErrorsTest, ParsesMovedAndAsk) {
  std::optional<Redirect> moved = ParseRedirect("MOVED 3999 127.0.0.1:6381", "seed");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->address.ToString(), "127.0.0.1:6381");

  std::optional<Redirect> ask = ParseRedirect("ASK 0 [::1]:7000", "seed");
  ASSERT_TRUE(ask.has_value());
  EXPECT_EQ(ask->kind, Redirect::Kind::kAsk);
  EXPECT_EQ(ask->slot, 0);
  EXPECT_EQ(ask->address.host, "::1");
}

TEST(ClusterErrorsTest, EmptyHostIsTheRepliersHost) {
  std::optional<Redirect> moved = ParseRedirect("MOVED 12 :7005", "10.1.1.1");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->address.ToString(), "10.1.1.1:7005");
}

TEST(ClusterErrorsTest, OtherRepliesAreNotRedirects) {
  EXPECT_FALSE(ParseRedirect("ERR wrong number of arguments", "h"));
  EXPECT_FALSE(ParseRedirect("MOVED 16384 h:1", "h"));
  EXPECT_FALSE(ParseRedirect("MOVED x h:1", "h"));
  EXPECT_FALSE(ParseRedirect("MOVED 1 h", "h"));
  EXPECT_FALSE(ParseRedirect("ASK 1", "h"));
}

TEST(ClusterErrorsTest, TransientErrors) {
  EXPECT_TRUE(IsTransientClusterError("TRYAGAIN Multiple keys request during rehashing of slot"));
  EXPECT_TRUE(IsTransientClusterError("CLUSTERDOWN The cluster is down"));
  EXPECT_TRUE(IsTransientClusterError("LOADING Redis is loading the dataset in memory"));
  EXPECT_FALSE(IsTransientClusterError("ERR unknown command"));
  EXPECT_FALSE(IsTransientClusterError("MOVED 1 h:1"));
}

TEST(ClusterErrorsTest, StatusCodes) {
  const RedisAddress node{"h", 1};
  EXPECT_EQ(StatusFromErrorReply("OOM command not allowed", node).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusFromErrorReply("WRONGTYPE Operation against a key", node).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusFromErrorReply("NOAUTH Authentication required.", node).code(),
            absl::StatusCode::kPermissionDenied);
  const absl::Status other = StatusFromErrorReply("ERR syntax error", node);
  EXPECT_EQ(other.code(), absl::StatusCode::kUnknown);
  EXPECT_NE(other.message().find("h:1"), absl::string_view::npos);
  EXPECT_NE(other.message().find("ERR syntax error"), absl::string_view::npos);
}

}  // namespace
}  // namespace gqa::kvstore
