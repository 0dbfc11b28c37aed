// HttpFront: the OpenAI-compatible HTTP API of the router (docs/openai-http.md):
// POST /v1/chat/completions and /v1/completions (JSON or server-sent
// events), GET /v1/models, GET /health. It is a thin translation layer: every
// request becomes one call of the router's own gqa.v1.Inference service over
// an in-process channel, so authentication, validation, admission, routing,
// failover and stop strings are the gRPC API's, and a gRPC status becomes an
// HTTP status in one function (http_errors.h). Serves on its own threads
// (cpp-httplib); thread-safe.
#ifndef GQA_ROUTER_HTTP_HTTP_FRONT_H_
#define GQA_ROUTER_HTTP_HTTP_FRONT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/engine/model_file.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace gqa {

struct HttpFrontOptions {
  std::string listen = "0.0.0.0";
  int port = 0;  // 0: pick a free port (see HttpFront::port())
  // Connections served at once; a streaming response holds one thread for
  // its whole life, so this bounds concurrent HTTP streams. Default 128.
  int num_threads = 128;
  // Larger request bodies get 413 with an OpenAI error. Default 1 MiB.
  size_t max_body_bytes = size_t{1} << 20;
  // An SSE comment is sent when no token came for this long, so that a
  // client that left is noticed (the write fails) while a sequence waits.
  absl::Duration heartbeat = absl::Seconds(2);
};

class HttpFront {
 public:
  // `channel` reaches the router's Inference service (Server::InProcessChannel).
  // `model` (its name and tokenizer) must outlive the front. `health` says
  // whether the router can serve now (GET /health: 200 or 503 with its
  // message). UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpFront>> Start(std::shared_ptr<grpc::Channel> channel,
                                                          const ModelFile* model,
                                                          std::function<absl::Status()> health,
                                                          HttpFrontOptions options);
  // Stops accepting and waits for the requests in flight to end.
  ~HttpFront();

  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  int port() const;

 private:
  class Impl;
  explicit HttpFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_HTTP_FRONT_H_
