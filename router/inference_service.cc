#include "router/inference_service.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/block_id.h"
#include "core/grpc/coalescing_write_reactor.h"
#include "core/grpc/status_convert.h"
#include "core/kv_size.h"
#include "core/log.h"
#include "proto/convert/kv_convert.h"

namespace gqa {
namespace {

// Appends a delta to an accumulated response: text concatenates, repeated
// fields append, the final message's fields are set once.
void AppendResponse(v1::GenerateResponse* into, v1::GenerateResponse from) {
  std::string text = std::move(*into->mutable_text());
  text += from.text();
  from.clear_text();
  into->MergeFrom(from);
  into->set_text(std::move(text));
}

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

std::optional<absl::Time> CallDeadline(const grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  return absl::FromChrono(deadline);
}

uint64_t FreshSeed() {
  thread_local std::mt19937_64 generator(std::random_device{}());
  return generator();
}

}  // namespace

// What both kinds of call share: the relay and the bookkeeping to undo.
class InferenceService::CallBase : public ResponseSink {
 public:
  explicit CallBase(InferenceService* service) : service_(service) {}

  void Bind(std::string call_id, std::string tenant, std::string request_id,
            std::shared_ptr<SequenceRelay> relay) {
    call_id_ = std::move(call_id);
    tenant_ = std::move(tenant);
    request_id_ = std::move(request_id);
    relay_ = std::move(relay);
  }

 protected:
  // Frees the call's admission slot and its request id (once).
  void EndCall() {
    if (!call_id_.empty() && !ended_.exchange(true)) service_->End(call_id_, tenant_, request_id_);
  }
  void CancelRelay() {
    if (relay_ != nullptr) relay_->Cancel();
  }

 private:
  InferenceService* service_;
  std::string call_id_, tenant_, request_id_;
  std::shared_ptr<SequenceRelay> relay_;
  std::atomic<bool> ended_{false};
};

// Generate: deltas are coalesced while a write is in flight, so a slow
// reader holds at most its own sequence's output.
class InferenceService::GenerateCall final
    : public CoalescingWriteReactor<v1::GenerateResponse>, public CallBase {
 public:
  using CallBase::CallBase;

  void Refuse(const absl::Status& status) {
    CoalescingWriteReactor<v1::GenerateResponse>::Finish(ToGrpcStatus(status));
  }

  void Send(v1::GenerateResponse message) override {
    Update([&](v1::GenerateResponse& pending) { AppendResponse(&pending, std::move(message)); });
  }

  void Finish(const absl::Status& status, v1::GenerateResponse last) override {
    EndCall();
    Close([&](v1::GenerateResponse& pending, bool) {
      if (status.ok()) AppendResponse(&pending, std::move(last));
      return ToGrpcStatus(status);
    });
  }

  void OnCancel() override { CancelRelay(); }
  void OnDone() override {
    EndCall();
    delete this;
  }
};

// Complete: the same sequence, merged into one reply.
class InferenceService::CompleteCall final : public grpc::ServerUnaryReactor, public CallBase {
 public:
  CompleteCall(InferenceService* service, v1::GenerateResponse* response)
      : CallBase(service), response_(response) {}

  void Refuse(const absl::Status& status) { grpc::ServerUnaryReactor::Finish(ToGrpcStatus(status)); }

  void Send(v1::GenerateResponse message) override {
    absl::MutexLock lock(&mu_);
    AppendResponse(response_, std::move(message));
  }

  void Finish(const absl::Status& status, v1::GenerateResponse last) override {
    EndCall();
    {
      absl::MutexLock lock(&mu_);
      if (status.ok()) {
        AppendResponse(response_, std::move(last));
      } else {
        response_->Clear();
      }
    }
    grpc::ServerUnaryReactor::Finish(ToGrpcStatus(status));
  }

  void OnCancel() override { CancelRelay(); }
  void OnDone() override {
    EndCall();
    delete this;
  }

 private:
  absl::Mutex mu_;
  v1::GenerateResponse* response_;
};

InferenceService::InferenceService(const ModelFile* model, const ApiKeys* keys, WorkerPool* pool,
                                   RouterOptions options)
    : model_(model),
      keys_(keys),
      pool_(pool),
      options_(std::move(options)),
      policy_(MakeRoutingPolicy(options_.policy)),
      admission_(options_.admission) {
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

InferenceService::~InferenceService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  watchdog_.join();
}

absl::StatusOr<const ApiKeyGrant*> InferenceService::Authenticate(
    grpc::CallbackServerContext* context) const {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  std::optional<absl::string_view> header;
  if (it != metadata.end()) header = absl::string_view(it->second.data(), it->second.size());
  return keys_->Authenticate(header);
}

absl::Status InferenceService::Begin(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest& request, CallBase* call) {
  absl::StatusOr<const ApiKeyGrant*> grant = Authenticate(context);
  if (!grant.ok()) return grant.status();
  const uint64_t serial = next_call_.fetch_add(1, std::memory_order_relaxed);
  const std::string call_id = absl::StrCat(options_.instance_id, "-", serial);
  absl::StatusOr<PreparedRequest> prepared =
      PrepareRequest(request, *model_, **grant, FreshSeed(), call_id);
  if (!prepared.ok()) return prepared.status();
  const std::string tenant = prepared->tenant;
  const std::string request_id = prepared->request_id;
  {
    absl::MutexLock lock(&mu_);
    if (!live_ids_.insert(absl::StrCat(tenant, std::string(1, '\0'), request_id)).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("request_id '", request_id, "' is already in flight for this tenant"));
    }
  }
  auto relay = std::make_shared<SequenceRelay>(*std::move(prepared),
                                               absl::StrCat(call_id, ":", request_id), this,
                                               options_.relay, call, CallDeadline(context));
  if (absl::Status init = relay->Init(model_->tokenizer.get()); !init.ok()) {
    End("", tenant, request_id);
    return init;
  }
  call->Bind(call_id, tenant, request_id, relay);
  {
    absl::MutexLock lock(&mu_);
    relays_[call_id] = relay;
  }
  const int64_t key_limit = (*grant)->max_streams;
  absl::Status admitted =
      admission_.Enter(call_id, (*grant)->key_name, key_limit, [relay] { relay->Start(); });
  if (!admitted.ok()) {
    // Not admitted: nothing started; undo the registration (End via the call).
    absl::MutexLock lock(&mu_);
    relays_.erase(call_id);
    live_ids_.erase(absl::StrCat(tenant, std::string(1, '\0'), request_id));
    return admitted;
  }
  return absl::OkStatus();
}

void InferenceService::End(const std::string& call_id, const std::string& tenant,
                           const std::string& request_id) {
  if (!call_id.empty()) admission_.Leave(call_id);
  absl::MutexLock lock(&mu_);
  if (!call_id.empty()) relays_.erase(call_id);
  live_ids_.erase(absl::StrCat(tenant, std::string(1, '\0'), request_id));
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  auto* call = new GenerateCall(this);
  if (absl::Status begun = Begin(context, *request, call); !begun.ok()) {
    call->Bind("", "", "", nullptr);
    call->Refuse(begun);
  }
  return call;
}

grpc::ServerUnaryReactor* InferenceService::Complete(grpc::CallbackServerContext* context,
                                                     const v1::GenerateRequest* request,
                                                     v1::GenerateResponse* response) {
  auto* call = new CompleteCall(this, response);
  if (absl::Status begun = Begin(context, *request, call); !begun.ok()) {
    call->Bind("", "", "", nullptr);
    call->Refuse(begun);
  }
  return call;
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  absl::StatusOr<const ApiKeyGrant*> grant = Authenticate(context);
  if (!grant.ok()) return Reply(context, grant.status());
  if (!request->model().empty() && request->model() != model_->name) {
    return Reply(context, absl::NotFoundError(absl::StrCat("no model named '", request->model(),
                                                           "'; this router serves '",
                                                           model_->name, "'")));
  }
  if (!(*grant)->MayUse(model_->name)) {
    return Reply(context, absl::PermissionDeniedError(
                              absl::StrCat("this API key may not use model '", model_->name, "'")));
  }
  absl::StatusOr<std::vector<int32_t>> ids;
  switch (request->input_case()) {
    case v1::TokenizeRequest::kText:
      ids = PromptTokens(*model_, nullptr, &request->text());
      break;
    case v1::TokenizeRequest::kChat:
      ids = PromptTokens(*model_, &request->chat(), nullptr);
      break;
    case v1::TokenizeRequest::INPUT_NOT_SET:
      ids = absl::InvalidArgumentError("no input: set text or chat");
      break;
  }
  if (!ids.ok()) return Reply(context, ids.status());
  response->mutable_token_ids()->Add(ids->begin(), ids->end());
  if (request->include_pieces()) {
    for (int32_t id : *ids) {
      absl::StatusOr<std::string> piece =
          model_->tokenizer->Decode({id}, DecodeOptions{.skip_special = false});
      response->add_pieces(piece.ok() ? *piece : std::string());
    }
  }
  return Reply(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* request,
                                                       v1::ListModelsResponse* response) {
  absl::StatusOr<const ApiKeyGrant*> grant = Authenticate(context);
  if (!grant.ok()) return Reply(context, grant.status());
  std::set<DType> dtypes;
  std::optional<std::set<int>> kinds;  // supported by every registered worker
  for (const std::shared_ptr<WorkerEndpoint>& endpoint : pool_->Endpoints()) {
    const WorkerState state = endpoint->state();
    if (state.info.model_fingerprint().empty()) continue;  // never accepted
    if (std::optional<DType> dtype = DTypeFromProto(state.info.kv_dtype())) dtypes.insert(*dtype);
    std::set<int> of_worker(state.info.kv_policy_kinds().begin(),
                            state.info.kv_policy_kinds().end());
    if (!kinds.has_value()) {
      kinds = of_worker;
    } else {
      std::set<int> both;
      std::set_intersection(kinds->begin(), kinds->end(), of_worker.begin(), of_worker.end(),
                            std::inserter(both, both.begin()));
      kinds = both;
    }
  }
  if (!kinds.has_value() || !(*grant)->MayUse(model_->name)) {
    return Reply(context, absl::OkStatus());
  }
  v1::ModelInfo* info = response->add_models();
  const ModelConfig& config = model_->config();
  info->set_name(model_->name);
  *info->mutable_shape() = ModelShapeToProto(config);
  for (DType dtype : dtypes) {
    v1::KvDtypeSize* size = info->add_kv_dtypes();
    size->set_dtype(DTypeToProto(dtype));
    size->set_kv_bytes_per_token(KvFormulaBytes(config.num_layers, config.num_kv_heads, 1,
                                                config.head_dim, DTypeSize(dtype))
                                     .value_or(0));
    size->set_kv_scale_bytes_per_token(
        KvScaleBytes(config.num_layers, config.num_kv_heads, 1, dtype).value_or(0));
  }
  for (int kind : *kinds) info->add_kv_policy_kinds(static_cast<v1::KvPolicyKind>(kind));
  info->set_has_chat_template(model_->chat_template.ok());
  return Reply(context, absl::OkStatus());
}

absl::StatusOr<std::shared_ptr<WorkerEndpoint>> InferenceService::Choose(
    const PreparedRequest& request, const absl::flat_hash_set<std::string>& excluded) {
  std::vector<std::shared_ptr<WorkerEndpoint>> endpoints = pool_->Endpoints();
  std::vector<RouteCandidate> candidates;
  std::vector<std::shared_ptr<WorkerEndpoint>> chosen_from;
  bool any_known = false, any_dtype = false, any_kind = false, any_capacity = false;
  std::vector<std::string> problems;
  std::map<int64_t, std::vector<BlockId>> chains;  // by block size
  const v1::KvPolicyKind kind = KvPolicyKindToProto(request.kv_policy.kind);
  for (const std::shared_ptr<WorkerEndpoint>& endpoint : endpoints) {
    RouteCandidate candidate;
    candidate.address = endpoint->address();
    candidate.state = endpoint->state();
    const v1::InfoResponse& info = candidate.state.info;
    const bool known = !info.model_fingerprint().empty();
    const bool dtype_ok =
        !request.kv_dtype.has_value() || info.kv_dtype() == DTypeToProto(*request.kv_dtype);
    const bool kind_ok = std::find(info.kv_policy_kinds().begin(), info.kv_policy_kinds().end(),
                                   kind) != info.kv_policy_kinds().end();
    // Under `full` the sequence needs prompt + output slots; a worker whose
    // whole cache is smaller can never serve it. (0 blocks: not reported, as
    // by a --fake-model worker.)
    const int64_t needed = static_cast<int64_t>(request.prompt_ids.size()) + 1;
    const bool capacity_ok = request.kv_policy.TokenBound().has_value() ||
                             info.num_kv_blocks() == 0 ||
                             info.num_kv_blocks() * info.block_size() >= needed;
    if (known) {
      any_known = true;
      any_dtype |= dtype_ok;
      any_kind |= dtype_ok && kind_ok;
      any_capacity |= dtype_ok && kind_ok && capacity_ok;
    }
    if (!candidate.state.ready) {
      problems.push_back(absl::StrCat(candidate.address, ": ", candidate.state.problem));
      continue;
    }
    if (excluded.contains(candidate.address) || !dtype_ok || !kind_ok || !capacity_ok) continue;
    const int64_t block_size = std::max(info.block_size(), 1);
    auto chain = chains.find(block_size);
    if (chain == chains.end()) {
      chain = chains
                  .emplace(block_size,
                           ChainBlockIds(RootBlockId(model_->fingerprint(), request.tenant),
                                         request.prompt_ids, block_size))
                  .first;
    }
    candidate.cached_prompt_tokens = endpoint->CachedLeadingBlocks(chain->second) * block_size;
    candidates.push_back(std::move(candidate));
    chosen_from.push_back(endpoint);
  }
  if (candidates.empty()) {
    // Refuse outright only what no known worker could ever serve; anything
    // else may change as workers come and go.
    if (any_known && request.kv_dtype.has_value() && !any_dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kv_dtype ", DTypeName(*request.kv_dtype), ": no worker of this model serves it"));
    }
    if (any_known && any_dtype && !any_kind) {
      return absl::FailedPreconditionError(absl::StrCat(
          "kv_policy ", KvPolicyKindName(request.kv_policy.kind),
          ": no worker of this model offers it"));
    }
    if (any_known && any_kind && !any_capacity) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the prompt (", request.prompt_ids.size(),
          " tokens) needs more KV than any worker holds; use a bounded kv_policy"));
    }
    return absl::UnavailableError(absl::StrCat(
        "no eligible worker is up", problems.empty() ? "" : " (",
        absl::StrJoin(problems, "; "), problems.empty() ? "" : ")"));
  }
  RouteRequest route;
  route.affinity_hash = PromptAffinityHash(request.prompt_ids);
  const size_t pick = policy_->Pick(candidates, route);
  return chosen_from[pick];
}

void InferenceService::WatchdogLoop() {
  while (true) {
    std::vector<std::shared_ptr<SequenceRelay>> live;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.watchdog_interval);
      if (stopping_) return;
      for (const auto& [id, weak] : relays_) {
        if (std::shared_ptr<SequenceRelay> relay = weak.lock()) live.push_back(std::move(relay));
      }
    }
    const absl::Time now = absl::Now();
    for (const std::shared_ptr<SequenceRelay>& relay : live) relay->CheckProgress(now);
  }
}

}  // namespace gqa
