#include "router/sequence_relay.h"

#include <grpcpp/client_context.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/grpc/status_convert.h"
#include "core/log.h"

namespace gqa {
namespace {

// Worker errors that another worker would answer the same way: they end the
// call instead of failing over.
bool IsFinalWorkerError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

}  // namespace

// One Submit stream to one worker.
class SequenceRelay::Attempt final : public grpc::ClientReadReactor<v1::SubmitResponse> {
 public:
  Attempt(std::shared_ptr<SequenceRelay> relay, std::shared_ptr<WorkerEndpoint> endpoint,
          v1::SubmitRequest request, std::optional<absl::Time> deadline)
      : relay_(std::move(relay)), endpoint_(std::move(endpoint)), request_(std::move(request)) {
    if (deadline.has_value()) context_.set_deadline(absl::ToChronoTime(*deadline));
    tokens_ = request_.prompt_token_ids_size() + request_.max_new_tokens();
    endpoint_->AddStream(tokens_);
  }

  void Begin() {
    endpoint_->stub()->async()->Submit(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }
  WorkerEndpoint* endpoint() const { return endpoint_.get(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the stream's status
    relay_->OnMessage(this, response_);
    response_.Clear();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    endpoint_->RemoveStream(tokens_);
    relay_->OnAttemptDone(this, FromGrpcStatus(status));
    delete this;
  }

 private:
  std::shared_ptr<SequenceRelay> relay_;
  std::shared_ptr<WorkerEndpoint> endpoint_;
  v1::SubmitRequest request_;
  v1::SubmitResponse response_;
  grpc::ClientContext context_;
  int64_t tokens_ = 0;
};

SequenceRelay::SequenceRelay(PreparedRequest request, std::string worker_request_id,
                             WorkerSelector* selector, RelayOptions options, ResponseSink* sink,
                             std::optional<absl::Time> deadline)
    : request_(std::move(request)),
      worker_request_id_(std::move(worker_request_id)),
      selector_(selector),
      options_(options),
      deadline_(deadline),
      sink_(sink) {}

SequenceRelay::~SequenceRelay() = default;

absl::Status SequenceRelay::Init(const Tokenizer* tokenizer) {
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer, request_);
  if (!assembler.ok()) return assembler.status();
  absl::MutexLock lock(&mu_);
  assembler_.emplace(*std::move(assembler));
  return absl::OkStatus();
}

void SequenceRelay::Start() {
  std::shared_ptr<SequenceRelay> self = shared_from_this();  // alive through the sink's Finish
  absl::MutexLock lock(&mu_);
  StartAttemptLocked();
}

void SequenceRelay::StartAttemptLocked() {
  if (sink_ == nullptr) return;
  retry_at_.reset();
  if (client_cancelled_) return FinishLocked(absl::CancelledError("the client cancelled the call"));
  const absl::Time now = absl::Now();
  if (deadline_.has_value() && now + options_.deadline_margin >= *deadline_) {
    return FinishLocked(absl::DeadlineExceededError("the call's deadline passed"));
  }
  if (attempts_ >= options_.max_attempts) {
    return FinishLocked(absl::UnavailableError(absl::StrCat(
        "gave up after ", attempts_, " attempts (", last_error_.message(),
        "); the output received so far is valid: resend the prompt plus it to continue")));
  }
  absl::StatusOr<std::shared_ptr<WorkerEndpoint>> endpoint =
      selector_->Choose(request_, failed_workers_);
  if (!endpoint.ok()) {
    if (endpoint.status().code() != absl::StatusCode::kUnavailable) {
      return FinishLocked(endpoint.status());
    }
    // No worker is eligible right now: wait for one (a worker restarting, a
    // failed one coming back), within the attempt budget.
    ++attempts_;
    last_error_ = endpoint.status();
    failed_workers_.clear();
    retry_at_ = now + options_.retry_wait;
    return;
  }
  ++attempts_;
  v1::SubmitRequest submit = request_.submit;
  submit.set_request_id(worker_request_id_);
  const std::vector<int32_t>& output = assembler_->output_ids();
  submit.mutable_output_token_ids()->Add(output.begin(), output.end());
  if (deadline_.has_value()) {
    submit.set_deadline_ms(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(*deadline_ - now - options_.deadline_margin)));
  }
  if (!output.empty()) {
    LOG(INFO) << "request " << request_.request_id << ": resuming on " << (*endpoint)->address()
              << " after " << output.size() << " output tokens (" << last_error_.message() << ")";
  }
  current_endpoint_ = *endpoint;
  current_ = new Attempt(shared_from_this(), *std::move(endpoint), std::move(submit), deadline_);
  last_progress_ = now;
  abandon_reason_.clear();
  current_->Begin();
}

void SequenceRelay::OnMessage(Attempt* attempt, const v1::SubmitResponse& message) {
  absl::MutexLock lock(&mu_);
  if (attempt != current_ || sink_ == nullptr) return;
  last_progress_ = absl::Now();
  if (stop_requested_) {
    // Tokens after a stop string are dropped; the final message's usage counts.
    if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      worker_finish_ = message.finish_reason();
      assembler_->AddAttemptUsage(message.usage());
    }
    return;
  }
  v1::GenerateResponse out;
  absl::StatusOr<bool> stopped = assembler_->Add(message, &out);
  if (!stopped.ok()) {
    current_->Cancel();
    return FinishLocked(stopped.status());
  }
  if (!started_message_sent_) {
    assembler_->Start(&out);
    started_message_sent_ = true;
  }
  if (message.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    worker_finish_ = message.finish_reason();
    assembler_->AddAttemptUsage(message.usage());
  }
  if (*stopped && !worker_finish_.has_value()) {
    stop_requested_ = true;
    CancelWorkerSequenceLocked();
  }
  if (out.token_ids_size() > 0 || !out.text().empty() || !out.request_id().empty()) {
    sink_->Send(std::move(out));
  }
}

void SequenceRelay::CancelWorkerSequenceLocked() {
  // Worker.Cancel ends the sequence with a final message (and its usage);
  // if that call fails, cancelling the stream still frees the sequence.
  auto context = std::make_shared<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  auto request = std::make_shared<v1::CancelRequest>();
  request->set_request_id(worker_request_id_);
  auto response = std::make_shared<v1::CancelResponse>();
  std::weak_ptr<SequenceRelay> weak = weak_from_this();
  Attempt* attempt = current_;
  current_endpoint_->stub()->async()->Cancel(
      context.get(), request.get(), response.get(),
      [context, request, response, weak, attempt](grpc::Status status) {
        if (status.ok()) return;
        if (std::shared_ptr<SequenceRelay> relay = weak.lock()) {
          absl::MutexLock lock(&relay->mu_);
          if (relay->current_ == attempt && attempt != nullptr) attempt->Cancel();
        }
      });
}

void SequenceRelay::OnAttemptDone(Attempt* attempt, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (attempt != current_) return;
  current_ = nullptr;
  std::shared_ptr<WorkerEndpoint> endpoint = std::move(current_endpoint_);
  if (sink_ == nullptr) return;
  if (client_cancelled_) return FinishLocked(absl::CancelledError("the client cancelled the call"));
  if (worker_finish_.has_value()) return FinishOkLocked(*worker_finish_);
  if (stop_requested_) return FinishOkLocked(v1::FINISH_REASON_STOP_STRING);
  if (status.ok()) {
    return FinishLocked(absl::InternalError(absl::StrCat(
        "worker ", endpoint->address(), " ended the stream without a final message")));
  }
  if (deadline_.has_value() && absl::Now() + options_.deadline_margin >= *deadline_) {
    return FinishLocked(absl::DeadlineExceededError("the call's deadline passed"));
  }
  if (IsFinalWorkerError(status.code()) ||
      (status.code() == absl::StatusCode::kAlreadyExists && assembler_->output_ids().empty())) {
    return FinishLocked(status);
  }
  last_error_ = abandon_reason_.empty()
                    ? absl::Status(status.code(), absl::StrCat("worker ", endpoint->address(), ": ",
                                                               status.message()))
                    : absl::UnavailableError(abandon_reason_);
  if (status.code() != absl::StatusCode::kResourceExhausted) {
    LOG(WARNING) << "request " << request_.request_id << ": worker " << endpoint->address()
                 << " failed: " << last_error_.message();
  }
  failed_workers_.insert(endpoint->address());
  StartAttemptLocked();
}

void SequenceRelay::Cancel() {
  std::shared_ptr<SequenceRelay> self = shared_from_this();  // alive through the sink's Finish
  absl::MutexLock lock(&mu_);
  client_cancelled_ = true;
  if (current_ != nullptr) {
    current_->Cancel();  // OnAttemptDone finishes the call
  } else {
    FinishLocked(absl::CancelledError("the client cancelled the call"));
  }
}

void SequenceRelay::CheckProgress(absl::Time now) {
  std::shared_ptr<SequenceRelay> self = shared_from_this();  // alive through the sink's Finish
  absl::MutexLock lock(&mu_);
  if (sink_ == nullptr) return;
  if (current_ == nullptr) {
    if (retry_at_.has_value() && now >= *retry_at_) StartAttemptLocked();
    return;
  }
  if (!abandon_reason_.empty()) return;  // already cancelled; OnDone is on its way
  const WorkerState state = current_endpoint_->state();
  if (state.down) {
    abandon_reason_ = absl::StrCat("worker ", current_endpoint_->address(),
                                   " stopped answering (", state.problem, ")");
  } else if (now - last_progress_ > options_.progress_timeout) {
    abandon_reason_ = absl::StrCat("worker ", current_endpoint_->address(), " sent nothing for ",
                                   absl::FormatDuration(options_.progress_timeout));
  } else {
    return;
  }
  current_->Cancel();
}

void SequenceRelay::FinishOkLocked(v1::FinishReason reason) {
  if (sink_ == nullptr) return;
  v1::GenerateResponse last;
  if (!started_message_sent_) {
    assembler_->Start(&last);
    started_message_sent_ = true;
  }
  assembler_->Finish(reason, &last);
  ResponseSink* sink = sink_;
  sink_ = nullptr;
  sink->Finish(absl::OkStatus(), std::move(last));
}

void SequenceRelay::FinishLocked(const absl::Status& status) {
  if (sink_ == nullptr) return;
  if (status.ok()) return FinishOkLocked(worker_finish_.value_or(v1::FINISH_REASON_UNSPECIFIED));
  ResponseSink* sink = sink_;
  sink_ = nullptr;
  sink->Finish(status, v1::GenerateResponse());
}

}  // namespace gqa
