// WorkerService: the gqa.v1.Worker gRPC service of one worker (the callback
// API; reactors never block). Submit validates the request, hands it to the
// SequenceEngine and streams the sequence's tokens back, coalescing deltas while
// a write is in flight so a slow reader never grows the buffer beyond the
// sequence's own tokens. Cancel, Info, Load and Drain report and steer the
// loop; WatchCacheEvents streams the prefix cache's changes and ClearCache
// drops unused cached blocks. Thread-safe.
#ifndef GQA_WORKER_SERVICE_WORKER_SERVICE_H_
#define GQA_WORKER_SERVICE_WORKER_SERVICE_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "worker/service/sequence_engine.h"

namespace gqa {

struct WorkerInfo {
  std::string model_name;
  std::string model_fingerprint;
  std::string tokenizer_fingerprint;
  DType kv_dtype = DType::kF32;
  int64_t block_size = 16;
  int64_t num_kv_blocks = 0;
  int64_t kv_capacity_bytes = 0;
  std::vector<int32_t> eos_ids;  // the model's end tokens (unless ignore_eos)
  std::string instance_id;
  int tp_size = 1;  // ranks of this worker's tensor-parallel group
};

class WorkerService final : public v1::Worker::CallbackService {
 public:
  // `engine` (the engine loop, or the fake one) must outlive the service.
  WorkerService(SequenceEngine* engine, WorkerInfo info) : loop_(engine), info_(std::move(info)) {}
  // Joins the threads that wait for drains.
  ~WorkerService() override;

  grpc::ServerWriteReactor<v1::SubmitResponse>* Submit(grpc::CallbackServerContext* context,
                                                       const v1::SubmitRequest* request) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::CancelRequest* request,
                                   v1::CancelResponse* response) override;
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* context,
                                 const v1::InfoRequest* request,
                                 v1::InfoResponse* response) override;
  grpc::ServerUnaryReactor* Load(grpc::CallbackServerContext* context,
                                 const v1::LoadRequest* request,
                                 v1::LoadResponse* response) override;
  grpc::ServerUnaryReactor* Drain(grpc::CallbackServerContext* context,
                                  const v1::DrainRequest* request,
                                  v1::DrainResponse* response) override;
  grpc::ServerWriteReactor<v1::CacheEvent>* WatchCacheEvents(
      grpc::CallbackServerContext* context, const v1::WatchCacheEventsRequest* request) override;
  grpc::ServerUnaryReactor* ClearCache(grpc::CallbackServerContext* context,
                                       const v1::ClearCacheRequest* request,
                                       v1::ClearCacheResponse* response) override;

 private:
  SequenceEngine* loop_;
  const WorkerInfo info_;
  absl::Mutex mu_;
  std::vector<std::thread> drain_waiters_ ABSL_GUARDED_BY(mu_);
};

// The engine request for a Submit, or INVALID_ARGUMENT naming the field and
// the limit, as worker.proto documents (pure: tests call it directly).
absl::StatusOr<std::unique_ptr<EngineRequest>> EngineRequestFromProto(
    const v1::SubmitRequest& request, const ModelConfig& config, const WorkerInfo& info);

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_WORKER_SERVICE_H_
