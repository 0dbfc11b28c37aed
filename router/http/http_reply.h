// Small pieces every HttpFront handler shares: an OpenAI error reply, and
// the request's Authorization header checked before it becomes the gRPC
// call's metadata. Used by router/http only. Stateless; thread-safe.
#ifndef GQA_ROUTER_HTTP_HTTP_REPLY_H_
#define GQA_ROUTER_HTTP_HTTP_REPLY_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace gqa {

// Sets `res` to the status's HTTP status (HttpErrorFor) and OpenAI error body.
void SendError(httplib::Response& res, const absl::Status& status);

// The Authorization header (nullopt when absent). UNAUTHENTICATED when it
// is longer than 4 KiB or holds bytes outside printable ASCII (it could not
// travel as gRPC metadata).
absl::StatusOr<std::optional<std::string>> ForwardedAuthorization(const httplib::Request& req);

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_HTTP_REPLY_H_
