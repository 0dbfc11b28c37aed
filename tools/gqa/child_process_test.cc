#include "tools/gqa/child_process.h"

#include "gtest/gtest.h"

namespace gqa {
namespace {

constexpr char kRouterLine[] =
    "gqa-router listening on 127.0.0.1:4567 (model m, 2 worker target(s)); http on "
    "127.0.0.1:8000";

TEST(ChildProcessTest, ListenAddressFromLine) {
  EXPECT_EQ(*ListenAddressFromLine(kRouterLine), "127.0.0.1:4567");
  EXPECT_EQ(ListenAddressFromLine("starting").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ChildProcessTest, HttpAddressFromLine) {
  EXPECT_EQ(*HttpAddressFromLine(kRouterLine), "127.0.0.1:8000");
  EXPECT_EQ(*HttpAddressFromLine("x (http on [::1]:80) y"), "[::1]:80");
  EXPECT_EQ(HttpAddressFromLine("gqa-router listening on 127.0.0.1:1 (model m)").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gqa
