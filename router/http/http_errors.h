// The one mapping from a gqa status (absl/gRPC code) to an HTTP status and
// OpenAI's error type, and the JSON error body the OpenAI HTTP front sends:
// {"error": {"message", "type", "param", "code"}}. Used by router/http only.
// Stateless; thread-safe.
#ifndef GQA_ROUTER_HTTP_HTTP_ERRORS_H_
#define GQA_ROUTER_HTTP_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gqa {

struct HttpError {
  int http_status = 500;
  const char* type = "server_error";  // OpenAI's error.type
};

// INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION -> 400; UNAUTHENTICATED
// -> 401; PERMISSION_DENIED -> 403; NOT_FOUND -> 404; ALREADY_EXISTS, ABORTED
// -> 409; RESOURCE_EXHAUSTED -> 429; UNIMPLEMENTED -> 501; UNAVAILABLE,
// CANCELLED -> 503; DEADLINE_EXCEEDED -> 504; anything else -> 500. OK has
// no error: 500 (callers never pass it).
HttpError HttpErrorFor(absl::StatusCode code);

// {"error": {...}} for `status`: message as is, code the status code's
// name in lower case ("invalid_argument"), param the status's "param"
// payload (the request field at fault) or null.
std::string ErrorJson(const absl::Status& status);

// INVALID_ARGUMENT naming the field at fault in its "param" payload.
absl::Status InvalidField(absl::string_view param, absl::string_view message);

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_HTTP_ERRORS_H_
