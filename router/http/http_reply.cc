#include "router/http/http_reply.h"

#include <httplib.h>

#include "router/http/http_errors.h"

namespace gqa {

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpErrorFor(status.code()).http_status;
  res.set_content(ErrorJson(status), "application/json");
}

absl::StatusOr<std::optional<std::string>> ForwardedAuthorization(const httplib::Request& req) {
  if (!req.has_header("Authorization")) return std::nullopt;
  std::string value = req.get_header_value("Authorization");
  if (value.size() > 4096) {
    return absl::UnauthenticatedError("the Authorization header is longer than 4 KiB");
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return absl::UnauthenticatedError(
          "the Authorization header must be 'Bearer <key>' in printable ASCII");
    }
  }
  return value;
}

}  // namespace gqa
