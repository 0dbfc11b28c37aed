// CompletionHandler: POST /v1/chat/completions and /v1/completions for
// HttpFront. A request is parsed (openai_request.h), sent to the router's
// Inference service (Complete, or Generate when streaming) and answered
// with OpenAI's JSON or server-sent events (openai_response.h). A streaming
// response's HTTP status waits for the first message, so refusals get their
// proper status; later errors become an SSE error event. A client that
// disconnects cancels the call (and so the worker's sequence). Thread-safe.
#ifndef GQA_ROUTER_HTTP_COMPLETION_HANDLER_H_
#define GQA_ROUTER_HTTP_COMPLETION_HANDLER_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "router/http/openai_request.h"
#include "worker/engine/model_file.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace gqa {

class CompletionHandler {
 public:
  // `stub` and `model` must outlive the handler.
  CompletionHandler(v1::Inference::Stub* stub, const ModelFile* model, absl::Duration heartbeat)
      : stub_(stub), model_(model), heartbeat_(heartbeat) {}

  void Handle(OpenAiEndpoint endpoint, const httplib::Request& req, httplib::Response& res) const;

 private:
  void Stream(const OpenAiRequest& request, const std::optional<std::string>& authorization,
              httplib::Response& res) const;

  v1::Inference::Stub* const stub_;
  const ModelFile* const model_;
  const absl::Duration heartbeat_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_COMPLETION_HANDLER_H_
