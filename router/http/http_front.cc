#include "router/http/http_front.h"

#include <httplib.h>

#include <thread>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "core/grpc/status_convert.h"
#include "core/log.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "router/http/completion_handler.h"
#include "router/http/http_reply.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

void SendJson(httplib::Response& res, const Json& body) {
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

}  // namespace

class HttpFront::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, const ModelFile* model,
       std::function<absl::Status()> health, HttpFrontOptions options)
      : stub_(v1::Inference::NewStub(std::move(channel))),
        model_(model),
        health_(std::move(health)),
        options_(std::move(options)),
        completions_(stub_.get(), model_, options_.heartbeat) {}

  ~Impl() {
    server_.stop();
    if (listener_.joinable()) listener_.join();
  }

  absl::Status Start() {
    const int threads = options_.num_threads;
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_.set_payload_max_length(options_.max_body_bytes);
    server_.set_tcp_nodelay(true);  // one SSE event per token: no Nagle delay
    server_.set_keep_alive_max_count(10000);
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          return ErrorPage(req, res);
        }));
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          SendError(res, absl::InternalError("the HTTP front failed on this request"));
        });
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      completions_.Handle(OpenAiEndpoint::kChatCompletions, req, res);
    });
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      completions_.Handle(OpenAiEndpoint::kCompletions, req, res);
    });
    server_.Get("/v1/models",
                [this](const httplib::Request& req, httplib::Response& res) { Models(req, res); });
    server_.Get("/health",
                [this](const httplib::Request& req, httplib::Response& res) { Health(res); });
    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.listen);
    } else if (server_.bind_to_port(options_.listen, options_.port)) {
      port_ = options_.port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options_.listen,
                                                 ":", options_.port));
    }
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    return absl::OkStatus();
  }

  int port() const { return port_; }

 private:
  // Gives httplib's own refusals (unknown path, a body over the limit, a
  // request it cannot parse) OpenAI's error shape; leaves ours alone.
  httplib::Server::HandlerResponse ErrorPage(const httplib::Request& req,
                                             httplib::Response& res) const {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const int code = res.status;
    absl::Status status;
    if (code == 404) {
      status = absl::NotFoundError(absl::StrCat("no route ", req.method, " ", req.path,
                                                "; see GET /v1/models, POST /v1/completions, "
                                                "POST /v1/chat/completions"));
    } else if (code == 413) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "the request body exceeds ", options_.max_body_bytes, " bytes (--http-max-body-bytes)"));
    } else {
      status = absl::InvalidArgumentError(absl::StrCat("HTTP ", code, " for ", req.method, " ",
                                                       req.path));
    }
    const int keep = code;
    SendError(res, status);
    res.status = keep;  // httplib's status stands (413 is not an absl code)
    return httplib::Server::HandlerResponse::Handled;
  }

  void Models(const httplib::Request& req, httplib::Response& res) const {
    absl::StatusOr<std::optional<std::string>> authorization = ForwardedAuthorization(req);
    if (!authorization.ok()) return SendError(res, authorization.status());
    grpc::ClientContext context;
    if (authorization->has_value()) context.AddMetadata("authorization", **authorization);
    v1::ListModelsResponse listed;
    const absl::Status status =
        FromGrpcStatus(stub_->ListModels(&context, v1::ListModelsRequest(), &listed));
    if (!status.ok()) return SendError(res, status);
    Json data = Json::array();
    for (const v1::ModelInfo& info : listed.models()) {
      data.push_back({{"id", info.name()},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "gqaserve"},
                      {"max_model_len", info.shape().trained_context_tokens()}});
    }
    SendJson(res, {{"object", "list"}, {"data", std::move(data)}});
  }

  void Health(httplib::Response& res) const {
    const absl::Status status = health_();
    if (!status.ok()) return SendError(res, status);
    SendJson(res, {{"status", "ok"}, {"model", model_->name}});
  }

  std::unique_ptr<v1::Inference::Stub> stub_;
  const ModelFile* model_;
  std::function<absl::Status()> health_;
  const HttpFrontOptions options_;
  CompletionHandler completions_;
  httplib::Server server_;
  int port_ = 0;
  std::thread listener_;
};

absl::StatusOr<std::unique_ptr<HttpFront>> HttpFront::Start(std::shared_ptr<grpc::Channel> channel,
                                                            const ModelFile* model,
                                                            std::function<absl::Status()> health,
                                                            HttpFrontOptions options) {
  auto impl = std::make_unique<Impl>(std::move(channel), model, std::move(health),
                                     std::move(options));
  if (absl::Status started = impl->Start(); !started.ok()) return started;
  return std::unique_ptr<HttpFront>(new HttpFront(std::move(impl)));
}

HttpFront::HttpFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpFront::~HttpFront() = default;

int HttpFront::port() const { return impl_->port(); }

}  // namespace gqa
