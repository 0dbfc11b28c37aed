#include "router/http/completion_handler.h"

#include <httplib.h>

#include <memory>

#include <grpcpp/client_context.h>

#include "core/grpc/status_convert.h"
#include "router/http/generate_stream.h"
#include "router/http/http_reply.h"
#include "router/http/openai_response.h"

namespace gqa {
namespace {

constexpr char kHeartbeat[] = ": keep-alive\n\n";

// What a streaming response's content provider keeps between its calls.
struct StreamState {
  StreamState(std::unique_ptr<GenerateStream> call, OpenAiResponder responder)
      : call(std::move(call)), responder(std::move(responder)) {}

  std::unique_ptr<GenerateStream> call;
  OpenAiResponder responder;
  std::string first_events;  // from the message that decided the status
  bool finished = false;     // the final message went out
};

int64_t UnixSeconds() { return absl::ToUnixSeconds(absl::Now()); }

}  // namespace

void CompletionHandler::Handle(OpenAiEndpoint endpoint, const httplib::Request& req,
                               httplib::Response& res) const {
  absl::StatusOr<std::optional<std::string>> authorization = ForwardedAuthorization(req);
  if (!authorization.ok()) return SendError(res, authorization.status());
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(endpoint, req.body);
  if (!request.ok()) return SendError(res, request.status());
  if (request->stream) return Stream(*request, *authorization, res);

  // NOTE(http): a client that leaves during a non-streaming request is not
  // noticed until the reply is written; the sequence runs to its end.
  grpc::ClientContext context;
  if (authorization->has_value()) context.AddMetadata("authorization", **authorization);
  v1::GenerateResponse reply;
  const absl::Status status =
      FromGrpcStatus(stub_->Complete(&context, request->generate, &reply));
  if (!status.ok()) return SendError(res, status);
  OpenAiResponder responder(*request, model_->name, UnixSeconds(), model_->tokenizer.get());
  res.set_content(responder.Whole(reply), "application/json");
}

void CompletionHandler::Stream(const OpenAiRequest& request,
                               const std::optional<std::string>& authorization,
                               httplib::Response& res) const {
  auto state = std::make_shared<StreamState>(
      std::make_unique<GenerateStream>(stub_, request.generate, authorization),
      OpenAiResponder(request, model_->name, UnixSeconds(), model_->tokenizer.get()));
  // The HTTP status waits for the first message or the call's end: a refusal
  // (bad value, unknown model, overload, no worker) is an HTTP error.
  v1::GenerateResponse first;
  absl::Status status;
  GenerateStream::Event event;
  do {
    event = state->call->Next(heartbeat_, &first, &status);
  } while (event == GenerateStream::Event::kTimeout);
  if (event == GenerateStream::Event::kEnd) {
    return SendError(res, status.ok() ? absl::InternalError("the stream ended without a reply")
                                      : status);
  }
  state->first_events = state->responder.Events(first);
  state->finished = first.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
  res.set_header("Cache-Control", "no-cache");
  const absl::Duration heartbeat = heartbeat_;
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, heartbeat](size_t, httplib::DataSink& sink) {
        std::string out = std::move(state->first_events);
        state->first_events.clear();
        while (out.empty() && !state->finished) {
          v1::GenerateResponse message;
          absl::Status end;
          switch (state->call->Next(heartbeat, &message, &end)) {
            case GenerateStream::Event::kTimeout:
              out = kHeartbeat;
              break;
            case GenerateStream::Event::kMessage:
              out = state->responder.Events(message);
              state->finished = message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
              break;
            case GenerateStream::Event::kEnd:
              out = OpenAiResponder::ErrorEvents(
                  end.ok() ? absl::InternalError("the stream ended without a final message") : end);
              state->finished = true;
              break;
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          state->call->Cancel();  // the client left: cancel the sequence
          return false;
        }
        if (state->finished) sink.done();
        return true;
      },
      [state](bool success) {
        if (!success) state->call->Cancel();
      });
}

}  // namespace gqa
