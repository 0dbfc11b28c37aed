// WorkerEndpoint: the router's view of one worker: its channel, what Info
// said about it (accepted only when its model and tokenizer fingerprints
// match the router's), its latest Load report, the set of prefix block ids
// its cache holds (from WatchCacheEvents), and the streams this router has
// open on it. Two threads per endpoint keep that current: a monitor polling
// Info/Load with short deadlines (so a frozen worker turns not-ready within
// about one deadline) and a watcher following the cache events.
// Thread-safe.
#ifndef GQA_ROUTER_WORKER_ENDPOINT_H_
#define GQA_ROUTER_WORKER_ENDPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/block_id.h"
#include "gqa/v1/worker.grpc.pb.h"

namespace gqa {

struct WorkerEndpointOptions {
  std::string model_fingerprint;      // a worker must report these to be used
  std::string tokenizer_fingerprint;
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::Duration rpc_timeout = absl::Milliseconds(1000);
};

// A copy of an endpoint's state for one routing decision.
struct WorkerState {
  bool ready = false;     // accepted, answering, not draining
  bool draining = false;
  bool down = false;      // its last two polls failed: streams on it are presumed lost
  std::string problem;    // why it is not ready (for logs and errors)
  v1::InfoResponse info;
  v1::LoadResponse load;
  int64_t router_tokens = 0;   // their prompt + max output tokens
};

class WorkerEndpoint {
 public:
  WorkerEndpoint(std::string address, WorkerEndpointOptions options);
  // Stops and joins the threads.
  ~WorkerEndpoint();
  WorkerEndpoint(const WorkerEndpoint&) = delete;
  WorkerEndpoint& operator=(const WorkerEndpoint&) = delete;

  void Start();

  const std::string& address() const { return address_; }
  v1::Worker::Stub* stub() { return stub_.get(); }
  WorkerState state() const;

  // How many leading ids of `chain` the worker's prefix cache holds.
  int64_t CachedLeadingBlocks(absl::Span<const BlockId> chain) const;

  // Bookkeeping of this router's streams on the worker.
  void AddStream(int64_t tokens);
  void RemoveStream(int64_t tokens);

 private:
  void MonitorLoop();
  void WatchLoop();
  bool Poll();  // one Info (when needed) + Load round; returns whether ready
  void MarkPollFailedLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyEvent(const v1::CacheEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SleepUnlessStopping(absl::Duration duration);

  const std::string address_;
  const WorkerEndpointOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> stub_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  WorkerState state_ ABSL_GUARDED_BY(mu_);
  bool accepted_ ABSL_GUARDED_BY(mu_) = false;  // Info matched since the last failure
  int failed_polls_ ABSL_GUARDED_BY(mu_) = 0;    // in a row
  absl::flat_hash_set<std::string> cached_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> snapshot_parts_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread monitor_;
  std::thread watcher_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_WORKER_ENDPOINT_H_
