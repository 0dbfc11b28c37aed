#include "router/http/http_errors.h"

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

constexpr char kParamPayload[] = "gqa.openai.param";

}  // namespace

HttpError HttpErrorFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return {400, "invalid_request_error"};
    case absl::StatusCode::kUnauthenticated:
      return {401, "authentication_error"};
    case absl::StatusCode::kPermissionDenied:
      return {403, "permission_error"};
    case absl::StatusCode::kNotFound:
      return {404, "not_found_error"};
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return {409, "conflict_error"};
    case absl::StatusCode::kResourceExhausted:
      return {429, "rate_limit_error"};
    case absl::StatusCode::kUnimplemented:
      return {501, "invalid_request_error"};
    // NOTE(http): CANCELLED reaches a client only when the router itself is
    // shutting down (a client that cancels sees nothing further): retryable.
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return {503, "service_unavailable_error"};
    case absl::StatusCode::kDeadlineExceeded:
      return {504, "timeout_error"};
    default:
      return {500, "server_error"};
  }
}

std::string ErrorJson(const absl::Status& status) {
  nlohmann::json error = {{"message", std::string(status.message())},
                          {"type", HttpErrorFor(status.code()).type},
                          {"param", nullptr},
                          {"code", absl::AsciiStrToLower(absl::StatusCodeToString(status.code()))}};
  if (auto param = status.GetPayload(kParamPayload)) {
    error["param"] = std::string(*param);
  }
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace);
}

absl::Status InvalidField(absl::string_view param, absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kParamPayload, absl::Cord(param));
  return status;
}

}  // namespace gqa
