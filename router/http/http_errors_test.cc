#include "router/http/http_errors.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

TEST(HttpErrorsTest, EachCodeHasItsHttpStatus) {
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kInvalidArgument).http_status, 400);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kFailedPrecondition).http_status, 400);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kOutOfRange).http_status, 400);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kUnauthenticated).http_status, 401);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kPermissionDenied).http_status, 403);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kNotFound).http_status, 404);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kAlreadyExists).http_status, 409);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kResourceExhausted).http_status, 429);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kUnimplemented).http_status, 501);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kUnavailable).http_status, 503);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kDeadlineExceeded).http_status, 504);
  EXPECT_EQ(HttpErrorFor(absl::StatusCode::kInternal).http_status, 500);
  EXPECT_STREQ(HttpErrorFor(absl::StatusCode::kInvalidArgument).type, "invalid_request_error");
  EXPECT_STREQ(HttpErrorFor(absl::StatusCode::kResourceExhausted).type, "rate_limit_error");
}

TEST(HttpErrorsTest, ErrorJsonHasOpenAisShape) {
  nlohmann::json body =
      nlohmann::json::parse(ErrorJson(InvalidField("max_tokens", "max_tokens must be >= 1")));
  ASSERT_TRUE(body.contains("error"));
  EXPECT_EQ(body["error"]["message"], "max_tokens must be >= 1");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "max_tokens");
  EXPECT_EQ(body["error"]["code"], "invalid_argument");
  body = nlohmann::json::parse(ErrorJson(absl::UnavailableError("no worker \xff")));
  EXPECT_TRUE(body["error"]["param"].is_null());
  EXPECT_EQ(body["error"]["code"], "unavailable");
  EXPECT_EQ(body["error"]["message"], "no worker \xEF\xBF\xBD");  // invalid UTF-8 replaced
}

}  // namespace
}  // namespace gqa
