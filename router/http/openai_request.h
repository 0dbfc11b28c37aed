// ParseOpenAiRequest: the body of POST /v1/chat/completions or
// /v1/completions (OpenAI's JSON) checked for shape and turned into the
// gqa.v1.GenerateRequest the router's Inference service receives. Only the
// JSON's shape is checked here (types, unknown or unsupported fields, n = 1,
// one prompt); value ranges are the router's (PrepareRequest), so both APIs
// refuse the same values with the same messages. Used by HttpFront.
// Stateless; thread-safe.
#ifndef GQA_ROUTER_HTTP_OPENAI_REQUEST_H_
#define GQA_ROUTER_HTTP_OPENAI_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gqa/v1/inference.pb.h"

namespace gqa {

enum class OpenAiEndpoint { kChatCompletions, kCompletions };

struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions;
  v1::GenerateRequest generate;  // for Inference.Generate (stream) or Complete
  std::string model;             // as the request named it; "" for the default
  bool stream = false;
  bool include_usage = false;    // stream_options.include_usage
};

// Nesting deeper than this in a body is refused before parsing.
inline constexpr int kMaxJsonDepth = 32;

// INVALID_ARGUMENT, with the field at fault as the "param" payload
// (http_errors.h), for: a body that is not one JSON object, a field of the
// wrong type, a field OpenAI does not define for the endpoint, a defined
// field gqaserve does not implement (tools, logit_bias, ...) set to
// anything but null, n or best_of other than 1, more than one prompt.
absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body);

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_OPENAI_REQUEST_H_
