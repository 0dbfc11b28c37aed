// InferenceService: the router's gqa.v1.Inference service (callback API;
// reactors never block). Each call is authenticated by its API key, validated
// and tokenized at the edge (PrepareRequest), admitted under the router's
// limits (Admission), and carried by a SequenceRelay to a worker chosen by
// the routing policy among the pool's eligible workers. A watchdog thread
// checks every live sequence's progress. Thread-safe.
#ifndef GQA_ROUTER_INFERENCE_SERVICE_H_
#define GQA_ROUTER_INFERENCE_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "router/admission.h"
#include "router/api_keys.h"
#include "router/routing_policy.h"
#include "router/sequence_relay.h"
#include "router/worker_pool.h"
#include "worker/engine/model_file.h"

namespace gqa {

struct RouterOptions {
  RoutingPolicyKind policy = RoutingPolicyKind::kLeastLoaded;
  RelayOptions relay;
  AdmissionOptions admission;
  absl::Duration watchdog_interval = absl::Milliseconds(100);
  std::string instance_id = "router";  // prefixes the request ids sent to workers
};

class InferenceService final : public v1::Inference::CallbackService, public WorkerSelector {
 public:
  // `model`, `keys` and `pool` must outlive the service.
  InferenceService(const ModelFile* model, const ApiKeys* keys, WorkerPool* pool,
                   RouterOptions options);
  ~InferenceService() override;

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Complete(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;

  // WorkerSelector.
  absl::StatusOr<std::shared_ptr<WorkerEndpoint>> Choose(
      const PreparedRequest& request, const absl::flat_hash_set<std::string>& excluded) override;

  // The admission limits' state (for gqa_router_* metrics).
  const Admission& admission() const { return admission_; }


 private:
  class CallBase;
  class GenerateCall;
  class CompleteCall;

  absl::StatusOr<const ApiKeyGrant*> Authenticate(grpc::CallbackServerContext* context) const;
  // Validates, registers and admits a call; the relay starts when admitted.
  absl::Status Begin(grpc::CallbackServerContext* context, const v1::GenerateRequest& request,
                     CallBase* call);
  void End(const std::string& call_id, const std::string& tenant, const std::string& request_id);
  void WatchdogLoop();

  const ModelFile* model_;
  const ApiKeys* keys_;
  WorkerPool* pool_;
  const RouterOptions options_;
  std::unique_ptr<RoutingPolicy> policy_;
  Admission admission_;
  std::atomic<uint64_t> next_call_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::weak_ptr<SequenceRelay>> relays_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> live_ids_ ABSL_GUARDED_BY(mu_);  // tenant + '\0' + id
  std::thread watchdog_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_INFERENCE_SERVICE_H_
