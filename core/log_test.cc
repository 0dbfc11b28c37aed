#include "core/log.h"

#include "core/status.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

absl::Status FailsWhenNegative(int value) {
  if (value < 0) return absl::InvalidArgumentError("negative");
  return absl::OkStatus();
}

absl::StatusOr<int> Doubled(int value) {
  RETURN_IF_ERROR(FailsWhenNegative(value));
  return 2 * value;
}

absl::StatusOr<int> DoubledPlusOne(int value) {
  ASSIGN_OR_RETURN(int doubled, Doubled(value));
  return doubled + 1;
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*DoubledPlusOne(3), 7);
  absl::StatusOr<int> failed = DoubledPlusOne(-1);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(failed.status().message(), "negative");
}

TEST(StatusMacrosTest, AnnotatePrefixesContext) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ctx").ok());
  absl::Status status = Annotate(absl::NotFoundError("missing"), "loading model.gguf");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "loading model.gguf: missing");
}

TEST(LogTest, VlogLevelControlsEvaluation) {
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  SetVlogLevel(0);
  VLOG(1) << count();
  EXPECT_EQ(evaluated, 0);
  SetVlogLevel(1);
  VLOG(1) << count();
  EXPECT_EQ(evaluated, 1);
  SetVlogLevel(0);
}

TEST(LogDeathTest, FailedCheckAbortsWithValues) {
  const int a = 3, b = 4;
  EXPECT_DEATH(CHECK_EQ(a, b) << "extra", "Check failed: a == b \\(3 vs 4\\) extra");
  EXPECT_DEATH(CHECK(a > b), "Check failed: a > b");
}

TEST(LogTest, PassingChecksDoNothing) {
  CHECK(true);
  CHECK_LT(1, 2);
  LOG(INFO) << "log_test event=ok";
}

}  // namespace
}  // namespace gqa
