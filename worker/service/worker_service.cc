#include "worker/service/worker_service.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/grpc/coalescing_write_reactor.h"
#include "core/grpc/status_convert.h"
#include "core/status.h"
#include "proto/convert/kv_convert.h"

namespace gqa {
namespace {

constexpr int32_t kMaxPriority = 100;

v1::FinishReason FinishToProto(EngineFinish finish) {
  switch (finish) {
    case EngineFinish::kLength: return v1::FINISH_REASON_LENGTH;
    case EngineFinish::kStopToken: return v1::FINISH_REASON_STOP_TOKEN;
    case EngineFinish::kEos: return v1::FINISH_REASON_EOS;
    case EngineFinish::kCancelled: return v1::FINISH_REASON_CANCELLED;
    case EngineFinish::kDeadline: return v1::FINISH_REASON_DEADLINE;
    case EngineFinish::kError: break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

// The server side of one Submit stream. The engine thread feeds it through
// the sink; gRPC threads drive the writes. At most one write is in flight;
// tokens that arrive meanwhile are coalesced into the next message.
class SubmitStream final : public CoalescingWriteReactor<v1::SubmitResponse> {
 public:
  class Sink final : public SequenceSink {
   public:
    Sink(SubmitStream* stream, bool logprobs, int64_t resumed)
        : stream_(stream), logprobs_(logprobs), resumed_(resumed) {}
    void OnToken(const SequenceUpdate& update) override { stream_->AddToken(update, logprobs_); }
    void OnFinish(const SequenceSummary& summary) override { stream_->End(summary, resumed_); }

   private:
    SubmitStream* stream_;  // alive until Finish: only End() calls it
    const bool logprobs_;
    const int64_t resumed_;
  };

  SubmitStream(SequenceEngine* loop, std::string id) : loop_(loop), id_(std::move(id)) {}

  // Ends the call at once (a request refused before it reached the engine).
  void Refuse(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

  void AddToken(const SequenceUpdate& update, bool logprobs) {
    Update([&](v1::SubmitResponse& pending) {
      pending.add_token_ids(update.token.token_id);
      if (!logprobs) return;
      v1::TokenLogprob* logprob = pending.add_logprobs();
      logprob->set_logprob(update.token.logprob);
      for (const auto& [id, value] : update.token.top_logprobs) {
        v1::TopLogprob* top = logprob->add_top_logprobs();
        top->set_token_id(id);
        top->set_logprob(value);
      }
    });
  }

  void End(const SequenceSummary& summary, int64_t resumed) {
    Close([&](v1::SubmitResponse& pending, bool broken) {
      if (broken) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call");
      if (summary.finish == EngineFinish::kError) {
        return ToGrpcStatus(summary.error.ok() ? absl::InternalError("engine failure")
                                               : summary.error);
      }
      pending.set_finish_reason(FinishToProto(summary.finish));
      v1::Usage* usage = pending.mutable_usage();
      usage->set_num_prompt_tokens(summary.prompt_tokens);
      usage->set_num_cached_tokens(summary.cached_tokens);
      usage->set_num_generated_tokens(summary.generated_tokens - resumed);
      usage->set_num_evicted_tokens(summary.evicted_tokens);
      usage->set_peak_kv_bytes(summary.peak_kv_bytes);
      usage->set_num_preemptions(summary.preemptions);
      pending.set_queue_ns(summary.queue_ns);
      return grpc::Status::OK;
    });
  }

  void OnCancel() override {
    MarkBroken();
    loop_->Cancel(id_).IgnoreError();  // already finished: nothing to free
  }

  void OnDone() override { delete this; }

 private:
  SequenceEngine* loop_;
  const std::string id_;
};

// The server side of one WatchCacheEvents stream: a snapshot (in parts of at
// most 65536 ids), then one message per change. Messages queue while a write
// is in flight; a watcher more than kMaxQueuedIds behind drops its queue and
// asks the engine for a fresh snapshot (the gap shows in sequence_number).
class CacheEventStream final : public grpc::ServerWriteReactor<v1::CacheEvent> {
 public:
  static constexpr size_t kMaxIdsPerMessage = 65536;
  static constexpr size_t kMaxQueuedIds = 1 << 20;

  class Watcher final : public CacheWatcher {
   public:
    explicit Watcher(CacheEventStream* stream) : stream_(stream) {}
    bool OnSnapshot(uint64_t sequence_number, const std::vector<BlockId>& ids) override {
      absl::MutexLock lock(&mu_);
      if (stream_ == nullptr) return false;
      stream_->QueueSnapshot(sequence_number, ids);
      return true;
    }
    bool OnChange(uint64_t sequence_number, bool stored, const std::vector<BlockId>& ids) override {
      absl::MutexLock lock(&mu_);
      if (stream_ == nullptr) return false;
      stream_->QueueChange(sequence_number, stored, ids);
      return true;
    }
    bool WantsSnapshot() override {
      absl::MutexLock lock(&mu_);
      return stream_ != nullptr && stream_->lagging();
    }
    // The stream is done: the engine drops this watcher at its next event.
    void Detach() {
      absl::MutexLock lock(&mu_);
      stream_ = nullptr;
    }

   private:
    absl::Mutex mu_;
    CacheEventStream* stream_ ABSL_GUARDED_BY(mu_);
  };

  CacheEventStream() : watcher_(std::make_shared<Watcher>(this)) {}
  std::shared_ptr<Watcher> watcher() const { return watcher_; }

  void QueueSnapshot(uint64_t sequence_number, const std::vector<BlockId>& ids) {
    absl::MutexLock lock(&mu_);
    queue_.clear();
    queued_ids_ = 0;
    lagging_ = false;
    size_t begin = 0;
    do {
      const size_t end = std::min(ids.size(), begin + kMaxIdsPerMessage);
      v1::CacheEvent event;
      event.set_sequence_number(sequence_number);
      v1::CacheSnapshot* snapshot = event.mutable_snapshot();
      for (size_t i = begin; i < end; ++i) {
        snapshot->add_block_ids(ids[i].data(), ids[i].size());
      }
      snapshot->set_more_parts(end < ids.size());
      queue_.push_back(std::move(event));
      begin = end;
    } while (begin < ids.size());
    queued_ids_ += ids.size();
    PumpLocked();
  }

  void QueueChange(uint64_t sequence_number, bool stored, const std::vector<BlockId>& ids) {
    absl::MutexLock lock(&mu_);
    if (lagging_) return;  // a snapshot is on its way
    if (queued_ids_ + ids.size() > kMaxQueuedIds) {
      queue_.clear();
      queued_ids_ = 0;
      lagging_ = true;
      return;
    }
    for (size_t begin = 0; begin < ids.size(); begin += kMaxIdsPerMessage) {
      v1::CacheEvent event;
      event.set_sequence_number(sequence_number);
      v1::BlockIds* block_ids = stored ? event.mutable_stored() : event.mutable_removed();
      for (size_t i = begin; i < std::min(ids.size(), begin + kMaxIdsPerMessage); ++i) {
        block_ids->add_block_ids(ids[i].data(), ids[i].size());
      }
      queue_.push_back(std::move(event));
    }
    queued_ids_ += ids.size();
    PumpLocked();
  }

  bool lagging() {
    absl::MutexLock lock(&mu_);
    return lagging_;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) broken_ = true;
    if (broken_) {
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      }
      return;
    }
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    broken_ = true;
    if (!write_in_flight_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher cancelled"));
    }
  }

  void OnDone() override {
    watcher_->Detach();
    delete this;
  }

 private:
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_ || broken_ || finished_ || queue_.empty()) return;
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    const int ids = in_flight_.has_stored()    ? in_flight_.stored().block_ids_size()
                    : in_flight_.has_removed() ? in_flight_.removed().block_ids_size()
                                               : in_flight_.snapshot().block_ids_size();
    queued_ids_ -= std::min<size_t>(queued_ids_, static_cast<size_t>(ids));
    write_in_flight_ = true;
    StartWrite(&in_flight_);
  }

  const std::shared_ptr<Watcher> watcher_;
  absl::Mutex mu_;
  std::deque<v1::CacheEvent> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_ids_ ABSL_GUARDED_BY(mu_) = 0;
  bool lagging_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  v1::CacheEvent in_flight_;  // owned by the write in flight
};

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EngineRequest>> EngineRequestFromProto(
    const v1::SubmitRequest& proto, const ModelConfig& config, const WorkerInfo& info) {
  if (proto.request_id().empty()) return absl::InvalidArgumentError("request_id is empty");
  if (proto.tenant().empty()) return absl::InvalidArgumentError("tenant is empty");
  if (proto.kv_dtype() != v1::KV_DTYPE_UNSPECIFIED) {
    const std::optional<DType> dtype = DTypeFromProto(proto.kv_dtype());
    if (!dtype.has_value() || *dtype != info.kv_dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_dtype ", v1::KvDtype_Name(proto.kv_dtype()), " is not served by this worker, which stores ",
          DTypeName(info.kv_dtype), "; send the request to a worker of that dtype"));
    }
  }
  if (proto.priority() < -kMaxPriority || proto.priority() > kMaxPriority) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority = ", proto.priority(), " must be in [-100, 100]"));
  }
  if (proto.top_logprobs() != 0 && !proto.logprobs()) {
    return absl::InvalidArgumentError("top_logprobs needs logprobs = true");
  }
  auto request = std::make_unique<EngineRequest>();
  request->id = proto.request_id();
  request->tenant = proto.tenant();
  request->prompt_ids.assign(proto.prompt_token_ids().begin(), proto.prompt_token_ids().end());
  request->output_ids.assign(proto.output_token_ids().begin(), proto.output_token_ids().end());
  request->stop_ids.assign(proto.stop_token_ids().begin(), proto.stop_token_ids().end());
  if (!proto.ignore_eos()) request->eos_ids = info.eos_ids;
  request->max_new_tokens = proto.max_new_tokens();
  request->num_top_logprobs = proto.top_logprobs();
  request->priority = proto.priority();
  ASSIGN_OR_RETURN(request->kv_policy, KvPolicyFromProto(proto.kv_policy()));
  const v1::SamplingParams& s = proto.sampling();
  SamplingParams& sampling = request->sampling;
  sampling.temperature = s.has_temperature() ? s.temperature() : 1.0f;
  sampling.top_k = s.top_k();
  sampling.top_p = s.has_top_p() ? s.top_p() : 1.0f;
  sampling.min_p = s.min_p();
  sampling.repetition_penalty = s.has_repetition_penalty() ? s.repetition_penalty() : 1.0f;
  sampling.frequency_penalty = s.frequency_penalty();
  sampling.presence_penalty = s.presence_penalty();
  sampling.seed = s.seed();
  if (sampling.temperature > 0 && !s.has_seed()) {
    return absl::InvalidArgumentError(
        "sampling.seed is required when temperature > 0 (so a resumed sequence draws the same)");
  }
  if (!request->output_ids.empty()) {
    const int32_t last = request->output_ids.back();
    if (std::count(request->stop_ids.begin(), request->stop_ids.end(), last) > 0 ||
        std::count(request->eos_ids.begin(), request->eos_ids.end(), last) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output_token_ids already end the sequence (its last token ", last,
          " is a stop or end-of-sequence token)"));
    }
  }
  RETURN_IF_ERROR(ValidateEngineRequest(*request, config));
  return request;
}

grpc::ServerWriteReactor<v1::SubmitResponse>* WorkerService::Submit(
    grpc::CallbackServerContext* context, const v1::SubmitRequest* proto) {
  auto* stream = new SubmitStream(loop_, proto->request_id());
  absl::StatusOr<std::unique_ptr<EngineRequest>> request =
      EngineRequestFromProto(*proto, loop_->config(), info_);
  if (!request.ok()) {
    stream->Refuse(request.status());
    return stream;
  }
  if (proto->has_deadline_ms()) {
    (*request)->deadline_ns = Env::Default()->NowNanos() + proto->deadline_ms() * 1000000;
  }
  auto sink = std::make_shared<SubmitStream::Sink>(
      stream, proto->logprobs(), static_cast<int64_t>(proto->output_token_ids_size()));
  if (absl::Status queued = loop_->Submit(*std::move(request), std::move(sink)); !queued.ok()) {
    stream->Refuse(queued);
  }
  return stream;
}

grpc::ServerUnaryReactor* WorkerService::Cancel(grpc::CallbackServerContext* context,
                                                const v1::CancelRequest* request,
                                                v1::CancelResponse* response) {
  if (request->request_id().empty()) {
    return Reply(context, absl::InvalidArgumentError("request_id is empty"));
  }
  return Reply(context, loop_->Cancel(request->request_id()));
}

grpc::ServerUnaryReactor* WorkerService::Info(grpc::CallbackServerContext* context,
                                              const v1::InfoRequest* request,
                                              v1::InfoResponse* response) {
  const ModelConfig& config = loop_->config();
  response->set_model_name(info_.model_name);
  response->set_model_fingerprint(info_.model_fingerprint);
  response->set_tokenizer_fingerprint(info_.tokenizer_fingerprint);
  *response->mutable_shape() = ModelShapeToProto(config);
  response->set_kv_dtype(DTypeToProto(info_.kv_dtype));
  for (v1::KvPolicyKind kind : {v1::KV_POLICY_KIND_FULL, v1::KV_POLICY_KIND_STREAMING,
                                v1::KV_POLICY_KIND_H2O, v1::KV_POLICY_KIND_WINDOW}) {
    response->add_kv_policy_kinds(kind);
  }
  response->mutable_default_kv_policy()->mutable_full();
  response->set_block_size(static_cast<int32_t>(info_.block_size));
  response->set_num_kv_blocks(info_.num_kv_blocks);
  response->set_kv_capacity_bytes(info_.kv_capacity_bytes);
  response->set_tp_size(info_.tp_size);
  response->set_backend(v1::BACKEND_CPU);
  response->set_instance_id(info_.instance_id);
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* WorkerService::Load(grpc::CallbackServerContext* context,
                                              const v1::LoadRequest* request,
                                              v1::LoadResponse* response) {
  const SchedulerStats stats = loop_->stats();
  response->set_num_running_sequences(stats.running);
  response->set_num_waiting_sequences(stats.waiting);
  response->set_num_preempted_sequences(stats.preemptions_total);
  response->set_num_kv_blocks_used(stats.kv_blocks_used);
  response->set_num_kv_blocks_free(stats.kv_blocks_free);
  response->set_num_outstanding_tokens(stats.outstanding_tokens);
  response->set_draining(stats.draining);
  return Reply(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::CacheEvent>* WorkerService::WatchCacheEvents(
    grpc::CallbackServerContext* context, const v1::WatchCacheEventsRequest* request) {
  auto* stream = new CacheEventStream();
  loop_->Watch(stream->watcher());
  return stream;
}

grpc::ServerUnaryReactor* WorkerService::ClearCache(grpc::CallbackServerContext* context,
                                                    const v1::ClearCacheRequest* request,
                                                    v1::ClearCacheResponse* response) {
  if (request->tenant().size() > 128) {
    return Reply(context, absl::InvalidArgumentError(absl::StrCat(
                              "tenant is ", request->tenant().size(), " bytes; at most 128")));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  loop_->ClearCache(request->tenant(), [reactor, response](int64_t cleared) {
    response->set_num_blocks_cleared(cleared);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

WorkerService::~WorkerService() {
  absl::MutexLock lock(&mu_);
  for (std::thread& waiter : drain_waiters_) waiter.join();
}

grpc::ServerUnaryReactor* WorkerService::Drain(grpc::CallbackServerContext* context,
                                               const v1::DrainRequest* request,
                                               v1::DrainResponse* response) {
  // Reactors never block: a waiter thread answers once the sequences finished
  // or the timeout passed.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Duration timeout =
      absl::Milliseconds(request->has_timeout_ms() ? request->timeout_ms() : 30000);
  absl::MutexLock lock(&mu_);
  drain_waiters_.emplace_back([this, reactor, response, timeout] {
    const int64_t before = loop_->stats().finished_total;
    const int64_t left = loop_->Drain(timeout);
    response->set_num_finished_sequences(loop_->stats().finished_total - before);
    response->set_num_handed_back_sequences(left);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace gqa
