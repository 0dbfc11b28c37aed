#include "kvstore/redis/resp.h"

#include <string>

#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

using Type = RespValue::Type;

// Feeds `bytes` whole and returns the one reply they hold.
RespValue ParseOne(absl::string_view bytes) {
  RespParser parser;
  parser.Feed(bytes);
  absl::StatusOr<std::optional<RespValue>> reply = parser.Next();
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (!reply.ok() || !reply->has_value()) {
    ADD_FAILURE() << "no complete reply in " << bytes.size() << " bytes";
    return RespValue::Error("test: no reply");
  }
  EXPECT_EQ(parser.num_buffered_bytes(), 0u);
  return **reply;
}

absl::Status ParseError(absl::string_view bytes, RespLimits limits = {}) {
  RespParser parser(limits);
  parser.Feed(bytes);
  absl::StatusOr<std::optional<RespValue>> reply = parser.Next();
  if (reply.ok()) return absl::OkStatus();
  return reply.status();
}

TEST(RespEncodeTest, CommandIsArrayOfBulkStrings) {
  EXPECT_EQ(EncodeCommand({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  EXPECT_EQ(EncodeCommand({"GET", ""}), "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
}

TEST(RespEncodeTest, BinaryArgumentsAreCopiedVerbatim) {
  const std::string binary("a\0b\r\nc", 6);
  EXPECT_EQ(EncodeCommand({binary}), std::string("*1\r\n$6\r\na\0b\r\nc\r\n", 16));
}

TEST(RespEncodeTest, ReplyRoundTripsThroughParser) {
  RespValue value = RespValue::Array(
      {RespValue::SimpleString("OK"), RespValue::Error("ERR no"), RespValue::Integer(-42),
       RespValue::Bulk(std::string("x\0\r\n", 4)), RespValue::NullBulk(),
       RespValue::Array({RespValue::Integer(1), RespValue::Array({})})});
  std::string wire;
  AppendReply(value, &wire);
  const RespValue parsed = ParseOne(wire);
  ASSERT_EQ(parsed.type, Type::kArray);
  ASSERT_EQ(parsed.elements.size(), 6u);
  EXPECT_EQ(parsed.elements[0].type, Type::kSimpleString);
  EXPECT_EQ(parsed.elements[0].str, "OK");
  EXPECT_TRUE(parsed.elements[1].is_error());
  EXPECT_EQ(parsed.elements[1].str, "ERR no");
  EXPECT_EQ(parsed.elements[2].integer, -42);
  EXPECT_EQ(parsed.elements[3].str, std::string("x\0\r\n", 4));
  EXPECT_EQ(parsed.elements[4].type, Type::kNullBulk);
  ASSERT_EQ(parsed.elements[5].elements.size(), 2u);
  EXPECT_EQ(parsed.elements[5].elements[1].type, Type::kArray);
  EXPECT_TRUE(parsed.elements[5].elements[1].elements.empty());
}

TEST(RespParserTest, ParsesEachScalarType) {
  EXPECT_EQ(ParseOne("+PONG\r\n").str, "PONG");
  EXPECT_EQ(ParseOne("-MOVED 1 h:1\r\n").type, Type::kError);
  EXPECT_EQ(ParseOne(":0\r\n").integer, 0);
  EXPECT_EQ(ParseOne(":9223372036854775807\r\n").integer, INT64_MAX);
  EXPECT_EQ(ParseOne(":-9223372036854775808\r\n").integer, INT64_MIN);
  EXPECT_EQ(ParseOne("$0\r\n\r\n").type, Type::kBulkString);
  EXPECT_EQ(ParseOne("$0\r\n\r\n").str, "");
  EXPECT_EQ(ParseOne("$-1\r\n").type, Type::kNullBulk);
  EXPECT_EQ(ParseOne("*-1\r\n").type, Type::kNullArray);
  EXPECT_TRUE(ParseOne("*-1\r\n").is_null());
  EXPECT_EQ(ParseOne("*0\r\n").type, Type::kArray);
}

TEST(RespParserTest, ByteByByteFeedGivesTheSameReply) {
  const std::string wire = "*3\r\n$5\r\nhe\r\nl\r\n*2\r\n:7\r\n$-1\r\n+ok\r\n";
  RespParser parser;
  std::optional<RespValue> reply;
  for (size_t i = 0; i < wire.size(); ++i) {
    absl::StatusOr<std::optional<RespValue>> next = parser.Next();
    ASSERT_TRUE(next.ok()) << next.status();
    ASSERT_FALSE(next->has_value()) << "complete before byte " << i;
    parser.Feed(wire.substr(i, 1));
  }
  absl::StatusOr<std::optional<RespValue>> next = parser.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  reply = **next;
  ASSERT_EQ(reply->elements.size(), 3u);
  EXPECT_EQ(reply->elements[0].str, "he\r\nl");
  EXPECT_EQ(reply->elements[1].elements[0].integer, 7);
  EXPECT_EQ(reply->elements[1].elements[1].type, Type::kNullBulk);
  EXPECT_EQ(reply->elements[2].str, "ok");
}

TEST(RespParserTest, LargeBulkFedInChunks) {
  const std::string payload(1 << 20, '\r');
  std::string wire;
  AppendReply(RespValue::Bulk(payload), &wire);
  RespParser parser;
  for (size_t at = 0; at < wire.size(); at += 4096) {
    absl::StatusOr<std::optional<RespValue>> next = parser.Next();
    ASSERT_TRUE(next.ok());
    ASSERT_FALSE(next->has_value());
    parser.Feed(absl::string_view(wire).substr(at, 4096));
  }
  absl::StatusOr<std::optional<RespValue>> next = parser.Next();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->str, payload);
}

TEST(RespParserTest, SeveralRepliesInOneFeed) {
  RespParser parser;
  parser.Feed("+OK\r\n:1\r\n$1\r\nx");
  EXPECT_EQ((*parser.Next())->str, "OK");
  EXPECT_EQ((*parser.Next())->integer, 1);
  EXPECT_FALSE(parser.Next()->has_value());
  parser.Feed("\r\n");
  EXPECT_EQ((*parser.Next())->str, "x");
  EXPECT_EQ(parser.num_buffered_bytes(), 0u);
}

TEST(RespParserTest, RejectsMalformedReplies) {
  const char* const kMalformed[] = {
      "?what\r\n",                  // unknown type byte
      "\r\n",                       // no type byte
      "+OK\rX",                     // CR without LF
      ":12a\r\n",                   // not an integer
      ":\r\n",                      // empty integer
      ":+5\r\n",                    // sign other than '-'
      ":99999999999999999999\r\n",  // overflows int64
      "$-2\r\n",                    // length below -1
      "$abc\r\n",                   // non-numeric length
      "$3\r\nabcXY",                // payload not followed by CRLF
      "*-5\r\n",                    // array length below -1
      "*1x\r\n",                    // non-numeric array length
  };
  for (const char* wire : kMalformed) {
    const absl::Status status = ParseError(wire);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "input: " << wire;
    EXPECT_NE(status.message().find("malformed RESP"), absl::string_view::npos) << status;
  }
}

TEST(RespParserTest, EnforcesLimits) {
  EXPECT_EQ(ParseError("$536870913\r\n").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseError("$536870912\r\n").ok());  // exactly 512 MiB is allowed (incomplete)
  RespLimits limits;
  limits.max_depth = 3;
  EXPECT_TRUE(ParseError("*1\r\n*1\r\n*1\r\n:1\r\n", limits).ok());
  EXPECT_EQ(ParseError("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits).code(),
            absl::StatusCode::kInvalidArgument);
  limits.max_array_elements = 10;
  EXPECT_EQ(ParseError("*11\r\n", limits).code(), absl::StatusCode::kInvalidArgument);
  limits.max_line_bytes = 8;
  EXPECT_EQ(ParseError("+0123456789", limits).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseError("+0123456789\r\n", limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RespParserTest, DefaultDepthLimitStopsDeepNesting) {
  std::string wire;
  for (int i = 0; i < 100; ++i) wire += "*1\r\n";
  const absl::Status status = ParseError(wire);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("nested deeper"), absl::string_view::npos) << status;
}

TEST(RespParserTest, StaysFailedAfterAnError) {
  RespParser parser;
  parser.Feed("!bad\r\n");
  EXPECT_FALSE(parser.Next().ok());
  parser.Feed("+OK\r\n");
  EXPECT_FALSE(parser.Next().ok());
}

TEST(RespValueTest, DebugStringEscapesBinary) {
  EXPECT_EQ(RespValue::Bulk(std::string("a\0", 2)).DebugString(), "\"a\\x00\"");
  EXPECT_EQ(RespValue::Integer(3).DebugString(), ":3");
}

}  // namespace
}  // namespace gqa::kvstore
