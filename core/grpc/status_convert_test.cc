#include "core/grpc/status_convert.h"

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(StatusConvertTest, EveryCodeRoundTripsWithItsMessage) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why");
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    if (code != 0) {
      EXPECT_EQ(converted.error_message(), "why");
    }
    EXPECT_EQ(FromGrpcStatus(converted), status);
  }
}

TEST(StatusConvertTest, NamedCodesAgree) {
  EXPECT_EQ(ToGrpcStatus(absl::ResourceExhaustedError("no blocks")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("down")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad")).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa
