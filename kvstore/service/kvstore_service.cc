#include "kvstore/service/kvstore_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/grpc/status_convert.h"
#include "kvstore/service/get_stream.h"
#include "kvstore/service/grpc_auth.h"
#include "kvstore/service/put_stream.h"

namespace gqa::kvstore {
namespace {

constexpr int kMaxStoreThreads = 256;

// A unary call's reactor: counted by the CallTracker until OnDone.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(const ServiceContext& context, KvStoreRpc rpc)
      : context_(context), rpc_(rpc), start_(absl::Now()) {}

  // Ends the call; the last use of this object (OnDone may delete it).
  void Reply(const absl::Status& status) {
    context_.ObserveRpc(rpc_, start_, status);
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override {
    context_.calls->End();
    delete this;
  }

 private:
  const ServiceContext context_;
  const KvStoreRpc rpc_;
  const absl::Time start_;
};

absl::Status Draining() {
  return absl::UnavailableError("the kvstore is shutting down; retry on another or later");
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvStoreService>> KvStoreService::Create(
    BlockStore* store, Authenticator auth, KvStoreMetrics* metrics,
    KvStoreServiceOptions options) {
  if (absl::Status valid = ValidateLimits(options.limits); !valid.ok()) return valid;
  if (options.num_store_threads < 1 || options.num_store_threads > kMaxStoreThreads) {
    return absl::InvalidArgumentError(absl::StrCat("num_store_threads = ",
                                                   options.num_store_threads, " must be in [1, ",
                                                   kMaxStoreThreads, "]"));
  }
  return std::unique_ptr<KvStoreService>(
      new KvStoreService(store, std::move(auth), metrics, options));
}

KvStoreService::KvStoreService(BlockStore* store, Authenticator auth, KvStoreMetrics* metrics,
                               const KvStoreServiceOptions& options)
    : auth_(std::move(auth)),
      executor_(options.num_store_threads),
      context_{store,
               &executor_,
               options.limits,
               metrics,
               &calls_,
               options.inline_memory_store_calls && store->traits().memory_only,
               store->traits().get_verifies_payload} {}

absl::Status KvStoreService::Admit(const grpc::CallbackServerContext& context) {
  if (!calls_.Begin()) return Draining();
  if (!auth_.enabled()) return absl::OkStatus();
  return auth_.Check(CallerFromContext(context));
}

int64_t KvStoreService::Drain(absl::Duration timeout) { return calls_.Drain(timeout); }

grpc::ServerBidiReactor<v1::PutRequest, v1::PutResponse>* KvStoreService::Put(
    grpc::CallbackServerContext* context) {
  const absl::Status admitted = Admit(*context);
  auto* stream = new PutStream(context_);
  stream->Start(admitted);
  return stream;
}

grpc::ServerWriteReactor<v1::GetResponse>* KvStoreService::Get(
    grpc::CallbackServerContext* context, const v1::GetRequest* request) {
  const absl::Status admitted = Admit(*context);
  auto* stream = new GetStream(context_);
  stream->Start(admitted, *request);
  return stream;
}

grpc::ServerUnaryReactor* KvStoreService::Lookup(grpc::CallbackServerContext* context,
                                                 const v1::LookupRequest* request,
                                                 v1::LookupResponse* response) {
  const absl::Status admitted = Admit(*context);
  auto* call = new UnaryCall(context_, KvStoreRpc::kLookup);
  absl::StatusOr<LookupQuery> query =
      admitted.ok() ? LookupQueryFromProto(*request, context_.limits)
                    : absl::StatusOr<LookupQuery>(admitted);
  if (!query.ok()) {
    call->Reply(query.status());
    return call;
  }
  executor_.Schedule([this, call, response, query = *std::move(query)] {
    absl::StatusOr<int64_t> present =
        context_.store->Lookup(query.tenant, query.shard, query.dtype, query.logical_ids);
    if (present.ok()) response->set_num_present_blocks(*present);
    call->Reply(present.status());
  });
  return call;
}

grpc::ServerUnaryReactor* KvStoreService::Delete(grpc::CallbackServerContext* context,
                                                 const v1::DeleteRequest* request,
                                                 v1::DeleteResponse* response) {
  const absl::Status admitted = Admit(*context);
  auto* call = new UnaryCall(context_, KvStoreRpc::kDelete);
  absl::StatusOr<DeleteTarget> target =
      admitted.ok() ? DeleteTargetFromProto(*request, context_.limits)
                    : absl::StatusOr<DeleteTarget>(admitted);
  if (!target.ok()) {
    call->Reply(target.status());
    return call;
  }
  executor_.Schedule([this, call, response, target = *std::move(target)] {
    absl::StatusOr<int64_t> deleted =
        target.seq_id.empty() ? context_.store->Delete(target.keys)
                              : context_.store->DeleteSwapSequence(target.tenant, target.seq_id);
    if (deleted.ok()) response->set_num_deleted_blocks(*deleted);
    call->Reply(deleted.status());
  });
  return call;
}

grpc::ServerUnaryReactor* KvStoreService::Stats(grpc::CallbackServerContext* context,
                                                const v1::StatsRequest* request,
                                                v1::StatsResponse* response) {
  const absl::Status admitted = Admit(*context);
  auto* call = new UnaryCall(context_, KvStoreRpc::kStats);
  if (!admitted.ok()) {
    call->Reply(admitted);
    return call;
  }
  executor_.Schedule([this, call, response] {
    StatsToProto(context_.store->Stats(), response);
    call->Reply(absl::OkStatus());
  });
  return call;
}

}  // namespace gqa::kvstore
