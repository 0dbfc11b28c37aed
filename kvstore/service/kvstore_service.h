// KvStoreService: the gqa.v1.KvStore gRPC service (callback API) over a
// BlockStore. Every call is authenticated first (Authenticator), validated
// (block_convert.h), and its store calls run on a small StoreExecutor so no
// gRPC thread waits on disk or Redis I/O (Put and Get of a memory-only store
// run inline on the gRPC thread: they never wait on I/O). Put and Get stream with one write
// in flight and at most two blocks held per stream (put_stream.h,
// get_stream.h). Thread-safe.
//
//   auto service = KvStoreService::Create(&store, *Authenticator::Create(tokens, {}),
//                                         &metrics, KvStoreServiceOptions());
//   builder.RegisterService(service->get());
#ifndef GQA_KVSTORE_SERVICE_KVSTORE_SERVICE_H_
#define GQA_KVSTORE_SERVICE_KVSTORE_SERVICE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "gqa/v1/kvstore.grpc.pb.h"
#include "kvstore/service/authenticator.h"
#include "absl/time/time.h"
#include "kvstore/service/block_convert.h"
#include "kvstore/service/call_tracker.h"
#include "kvstore/service/kvstore_metrics.h"
#include "kvstore/service/service_context.h"
#include "kvstore/service/store_executor.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

struct KvStoreServiceOptions {
  // Validation bounds (max swap TTL, max block bytes, ...); see KvStoreLimits.
  KvStoreLimits limits;
  // Threads that run store calls, in [1, 256]. Default 4: enough to overlap
  // disk or Redis latency; the memory tier needs about one per core.
  int num_store_threads = 4;
  // Run Put and Get store calls on the gRPC callback thread itself when the
  // store is memory-only (BlockStoreTraits::memory_only): no thread hop. A
  // store with a disk or Redis tier always goes through the executor, so
  // disk and Redis I/O never run on gRPC threads. Default true.
  bool inline_memory_store_calls = true;
};

class KvStoreService final : public v1::KvStore::CallbackService {
 public:
  // `store` must outlive the service; `metrics` may be nullptr (no metrics)
  // and otherwise must outlive it. INVALID_ARGUMENT for options out of range.
  static absl::StatusOr<std::unique_ptr<KvStoreService>> Create(BlockStore* store,
                                                                Authenticator auth,
                                                                KvStoreMetrics* metrics,
                                                                KvStoreServiceOptions options);
  // REQUIRES: the server is shut down (no call in flight).
  ~KvStoreService() override = default;

  // From now on every new call ends at once with UNAVAILABLE; waits until
  // the calls in flight have finished or `timeout` passed, and returns how
  // many are left. For a graceful stop: Drain, then Server::Shutdown with a
  // deadline of now (which also closes the idle client connections that
  // gRPC's Shutdown would otherwise wait on).
  int64_t Drain(absl::Duration timeout);

  // Whether Put and Get run their store calls inline on gRPC's threads
  // (KvStoreServiceOptions::inline_memory_store_calls and a memory-only store).
  bool inline_store_calls() const { return context_.inline_store_calls; }

  grpc::ServerBidiReactor<v1::PutRequest, v1::PutResponse>* Put(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<v1::GetResponse>* Get(grpc::CallbackServerContext* context,
                                                 const v1::GetRequest* request) override;
  grpc::ServerUnaryReactor* Lookup(grpc::CallbackServerContext* context,
                                   const v1::LookupRequest* request,
                                   v1::LookupResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;

 private:
  KvStoreService(BlockStore* store, Authenticator auth, KvStoreMetrics* metrics,
                 const KvStoreServiceOptions& options);

  // Counts the call, then: UNAVAILABLE when draining, else the caller's
  // authentication.
  absl::Status Admit(const grpc::CallbackServerContext& context);

  const Authenticator auth_;
  CallTracker calls_;
  StoreExecutor executor_;
  const ServiceContext context_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_KVSTORE_SERVICE_H_
