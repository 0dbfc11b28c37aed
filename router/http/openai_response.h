// OpenAiResponder: turns the router's gqa.v1.GenerateResponse messages into
// OpenAI's JSON: one chat.completion / text_completion body for a
// non-streaming request, or server-sent events (chat.completion.chunk /
// text_completion chunks, an optional usage chunk, "data: [DONE]") for a
// streaming one. Log-probabilities are rendered with token pieces from the
// model's tokenizer. Used by HttpFront, one per request. Thread-compatible.
#ifndef GQA_ROUTER_HTTP_OPENAI_RESPONSE_H_
#define GQA_ROUTER_HTTP_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/tokenizer/tokenizer.h"
#include "gqa/v1/inference.pb.h"
#include "router/http/openai_request.h"

namespace gqa {

class OpenAiResponder {
 public:
  // `tokenizer` (for log-probability pieces) must outlive the responder.
  // `created`: Unix seconds, as OpenAI's `created`.
  OpenAiResponder(const OpenAiRequest& request, std::string model_name, int64_t created,
                  const Tokenizer* tokenizer);

  // The whole response of a non-streaming request (Complete's reply).
  std::string Whole(const v1::GenerateResponse& response);

  // The SSE events for one Generate message: a content chunk when it holds
  // text or tokens; for the final message (finish_reason set) also the finish
  // chunk, the usage chunk when asked, and "data: [DONE]". Possibly empty.
  std::string Events(const v1::GenerateResponse& message);

  // An error after the stream began: an event holding OpenAI's error object,
  // then "data: [DONE]" (the OpenAI client raises it as an APIError).
  static std::string ErrorEvents(const absl::Status& status);

 private:
  const OpenAiEndpoint endpoint_;
  const std::string model_;
  const int64_t created_;
  const bool include_usage_;
  const bool logprobs_;
  const Tokenizer* const tokenizer_;
  std::string id_;            // from the first message's request_id
  bool sent_role_ = false;    // chat: the first chunk carries the role
  int64_t text_offset_ = 0;   // completions logprobs: bytes of text so far
};

// OpenAI's finish_reason: "length" for FINISH_REASON_LENGTH (and DEADLINE,
// also cut short), "stop" for every other reason.
const char* OpenAiFinishReason(v1::FinishReason reason);

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_OPENAI_RESPONSE_H_
