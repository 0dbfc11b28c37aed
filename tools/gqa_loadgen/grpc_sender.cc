#include "tools/gqa_loadgen/grpc_sender.h"

#include <unistd.h>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "core/grpc/keepalive.h"
#include "core/grpc/status_convert.h"
#include "core/status.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "gqa/v1/worker.grpc.pb.h"

namespace gqa::loadgen {
namespace {

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": cannot open"));
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void SetPolicy(const KvPolicy& policy, v1::KvPolicy* out) {
  switch (policy.kind) {
    case KvPolicy::Kind::kFull:
      out->mutable_full();
      break;
    case KvPolicy::Kind::kStreaming:
      out->mutable_streaming()->set_sink_tokens(policy.sink_tokens);
      out->mutable_streaming()->set_window_tokens(policy.window_tokens);
      break;
    case KvPolicy::Kind::kH2o:
      out->mutable_h2o()->set_heavy_tokens(policy.heavy_tokens);
      out->mutable_h2o()->set_recent_tokens(policy.recent_tokens);
      break;
    case KvPolicy::Kind::kWindow:
      out->mutable_window()->set_window_tokens(policy.window_tokens);
      break;
  }
}

v1::KvDtype ProtoDtype(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return v1::KV_DTYPE_F32;
    case DType::kF16:
      return v1::KV_DTYPE_F16;
    case DType::kBF16:
      return v1::KV_DTYPE_BF16;
    case DType::kFp8E4M3:
      return v1::KV_DTYPE_FP8_E4M3;
    case DType::kFp8E5M2:
      return v1::KV_DTYPE_FP8_E5M2;
  }
  return v1::KV_DTYPE_UNSPECIFIED;
}

void SetSampling(const RequestSettings& s, int64_t index, v1::SamplingParams* out) {
  out->set_temperature(s.temperature);
  if (s.temperature > 0) out->set_seed(s.seed + static_cast<uint64_t>(index));
}

// One streaming call; deletes itself when it ends.
template <typename Request, typename Response>
class StreamReactor final : public grpc::ClientReadReactor<Response> {
 public:
  StreamReactor(Request request, bool keep_tokens, std::function<void(RequestRecord)> done)
      : request_(std::move(request)), keep_tokens_(keep_tokens), done_(std::move(done)) {}

  grpc::ClientContext* context() { return &context_; }
  const Request* request() const { return &request_; }

  void Start() {
    this->StartRead(&response_);
    this->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t now_ns = MonotonicNowNs();
    const int n = response_.token_ids_size();
    if (n > 0) {
      record_.chunks.push_back(TokenChunk{now_ns, n});
      record_.num_output_tokens += n;
      if (keep_tokens_) {
        record_.output_token_ids.insert(record_.output_token_ids.end(),
                                        response_.token_ids().begin(),
                                        response_.token_ids().end());
      }
    }
    if (response_.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      absl::string_view name = v1::FinishReason_Name(response_.finish_reason());
      absl::ConsumePrefix(&name, "FINISH_REASON_");
      record_.finish_reason = std::string(name);
      const v1::Usage& usage = response_.usage();
      record_.num_prompt_tokens = usage.num_prompt_tokens();
      record_.num_cached_tokens = usage.num_cached_tokens();
      record_.num_evicted_tokens = usage.num_evicted_tokens();
      record_.peak_kv_bytes = usage.peak_kv_bytes();
    }
    this->StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    record_.end_ns = MonotonicNowNs();
    record_.status_code = static_cast<int>(status.error_code());
    if (!status.ok()) record_.status_message = status.error_message();
    done_(std::move(record_));
    delete this;
  }

 private:
  grpc::ClientContext context_;
  const Request request_;
  Response response_;
  RequestRecord record_;
  const bool keep_tokens_;
  std::function<void(RequestRecord)> done_;
};

}  // namespace

struct GrpcSender::Impl {
  TargetOptions target;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Inference::Stub>> inference;
  std::vector<std::unique_ptr<v1::Worker::Stub>> workers;
  std::atomic<uint64_t> next{0};
  std::string id_prefix;

  void Prepare(grpc::ClientContext* context, double timeout_s) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6)));
    if (!target.api_key.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", target.api_key));
    }
  }
};

GrpcSender::GrpcSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcSender::~GrpcSender() = default;

absl::StatusOr<std::unique_ptr<GrpcSender>> GrpcSender::Connect(const TargetOptions& target,
                                                                absl::Duration timeout) {
  auto impl = std::make_unique<Impl>();
  impl->target = target;
  impl->id_prefix = absl::StrCat("loadgen-", getpid(), "-", MonotonicNowNs() % 1000000000, "-");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (target.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!target.tls_ca_path.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("tls-ca", target.tls_ca_path));
    }
    if (!target.tls_cert_path.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("tls-cert", target.tls_cert_path));
      ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("tls-key", target.tls_key_path));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  for (int64_t i = 0; i < target.connections; ++i) {
    grpc::ChannelArguments args = ClientKeepaliveArguments();
    // A private subchannel pool: each channel gets its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    if (!target.tls_server_name.empty()) args.SetSslTargetNameOverride(target.tls_server_name);
    auto channel = grpc::CreateCustomChannel(target.address, credentials, args);
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to ", target.address, " within ", absl::FormatDuration(timeout),
          target.tls ? " (TLS)" : " (plaintext)", "; is the server up, and is --tls right?"));
    }
    impl->inference.push_back(v1::Inference::NewStub(channel));
    impl->workers.push_back(v1::Worker::NewStub(channel));
    impl->channels.push_back(std::move(channel));
  }
  return std::unique_ptr<GrpcSender>(new GrpcSender(std::move(impl)));
}

absl::StatusOr<TargetInfo> GrpcSender::FetchInfo(absl::Duration timeout) {
  const double timeout_s = absl::ToDoubleSeconds(timeout);
  TargetInfo info;
  grpc::ClientContext context;
  impl_->Prepare(&context, timeout_s);
  context.set_wait_for_ready(true);
  if (impl_->target.api == Api::kWorker) {
    v1::InfoResponse response;
    const grpc::Status status = impl_->workers[0]->Info(&context, v1::InfoRequest(), &response);
    if (!status.ok()) {
      return Annotate(FromGrpcStatus(status), absl::StrCat("Worker.Info at ", impl_->target.address));
    }
    info.model_name = response.model_name();
    info.vocab_size = response.shape().vocab_size();
    info.context_tokens = response.shape().trained_context_tokens();
    return info;
  }
  v1::ListModelsResponse response;
  const grpc::Status status =
      impl_->inference[0]->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status),
                    absl::StrCat("Inference.ListModels at ", impl_->target.address));
  }
  for (const v1::ModelInfo& model : response.models()) {
    if (impl_->target.model.empty() || model.name() == impl_->target.model) {
      info.model_name = model.name();
      info.vocab_size = model.shape().vocab_size();
      info.context_tokens = model.shape().trained_context_tokens();
      return info;
    }
  }
  return absl::NotFoundError(
      impl_->target.model.empty()
          ? absl::StrCat("the router at ", impl_->target.address,
                         " lists no model (no worker registered yet?)")
          : absl::StrCat("the router at ", impl_->target.address, " serves no model named '",
                         impl_->target.model, "'"));
}

void GrpcSender::SetSettings(const RequestSettings& settings) {
  absl::MutexLock lock(&mu_);
  settings_ = settings;
}

void GrpcSender::Send(const RequestSpec& spec, std::function<void(RequestRecord)> done) {
  RequestSettings s;
  {
    absl::MutexLock lock(&mu_);
    s = settings_;
  }
  const uint64_t n = impl_->next.fetch_add(1, std::memory_order_relaxed);
  const size_t channel = n % impl_->channels.size();
  if (impl_->target.api == Api::kWorker) {
    v1::SubmitRequest request;
    request.set_request_id(absl::StrCat(impl_->id_prefix, n));
    request.set_tenant(impl_->target.tenant);
    request.mutable_prompt_token_ids()->Add(spec.prompt_token_ids.begin(),
                                            spec.prompt_token_ids.end());
    request.set_max_new_tokens(spec.max_tokens);
    request.set_ignore_eos(s.ignore_eos);
    SetSampling(s, spec.index, request.mutable_sampling());
    if (s.kv_policy) SetPolicy(*s.kv_policy, request.mutable_kv_policy());
    if (s.kv_dtype) request.set_kv_dtype(ProtoDtype(*s.kv_dtype));
    auto* reactor = new StreamReactor<v1::SubmitRequest, v1::SubmitResponse>(
        std::move(request), s.keep_output_tokens, std::move(done));
    impl_->Prepare(reactor->context(), impl_->target.request_timeout_s);
    impl_->workers[channel]->async()->Submit(reactor->context(), reactor->request(), reactor);
    reactor->Start();
    return;
  }
  v1::GenerateRequest request;
  request.set_model(impl_->target.model);
  if (!spec.prompt_text.empty()) {
    request.set_text(spec.prompt_text);
  } else {
    request.mutable_token_ids()->mutable_token_ids()->Add(spec.prompt_token_ids.begin(),
                                                          spec.prompt_token_ids.end());
  }
  request.set_max_tokens(spec.max_tokens);
  request.set_ignore_eos(s.ignore_eos);
  SetSampling(s, spec.index, request.mutable_sampling());
  if (s.kv_policy) SetPolicy(*s.kv_policy, request.mutable_kv_policy());
  if (s.kv_dtype) request.set_kv_dtype(ProtoDtype(*s.kv_dtype));
  auto* reactor = new StreamReactor<v1::GenerateRequest, v1::GenerateResponse>(
      std::move(request), s.keep_output_tokens, std::move(done));
  impl_->Prepare(reactor->context(), impl_->target.request_timeout_s);
  impl_->inference[channel]->async()->Generate(reactor->context(), reactor->request(), reactor);
  reactor->Start();
}

}  // namespace gqa::loadgen
