// SequenceRelay: one client sequence carried across worker attempts. It
// submits the prepared request to a worker chosen by the WorkerSelector,
// relays the token stream through the OutputAssembler to a ResponseSink,
// and when the worker fails mid-stream (the stream breaks, the worker stops
// answering its load polls, or no token arrives for progress_timeout) it
// resubmits prompt + the output so far to another worker, so the client sees
// one stream with no gap or repeat. A stop-string match cancels the worker
// sequence with Worker.Cancel (keeping its usage). Client cancellation and
// the call's deadline propagate to the worker.
//
// Lifetime: owned by shared_ptr; each attempt's gRPC reactor holds one until
// it is done. Thread-safe.
#ifndef GQA_ROUTER_SEQUENCE_RELAY_H_
#define GQA_ROUTER_SEQUENCE_RELAY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gqa/v1/inference.pb.h"
#include "router/output_assembler.h"
#include "router/prepared_request.h"
#include "router/worker_endpoint.h"

namespace gqa {

// The client side of a sequence: Generate's stream or Complete's reply.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // A delta (not the last message).
  virtual void Send(v1::GenerateResponse message) = 0;
  // The end: with OK, `last` is the final message; otherwise the error.
  // Called exactly once; the relay never touches the sink afterwards.
  virtual void Finish(const absl::Status& status, v1::GenerateResponse last) = 0;
};

// Chooses the worker for an attempt among those not in `excluded`
// (addresses). UNAVAILABLE when none is eligible; INVALID_ARGUMENT or
// FAILED_PRECONDITION when no worker could ever serve the request.
class WorkerSelector {
 public:
  virtual ~WorkerSelector() = default;
  virtual absl::StatusOr<std::shared_ptr<WorkerEndpoint>> Choose(
      const PreparedRequest& request, const absl::flat_hash_set<std::string>& excluded) = 0;
};

struct RelayOptions {
  int max_attempts = 4;  // the first attempt plus up to three failovers
  absl::Duration progress_timeout = absl::Seconds(30);
  absl::Duration deadline_margin = absl::Milliseconds(50);
  // Waits between attempts when no worker is eligible (a restarting pool).
  absl::Duration retry_wait = absl::Milliseconds(500);
};

class SequenceRelay : public std::enable_shared_from_this<SequenceRelay> {
 public:
  // `worker_request_id` is unique among this router's calls (workers key
  // sequences by it). `deadline`: the call's, if any. `sink` and `selector`
  // must outlive the relay's Finish call.
  SequenceRelay(PreparedRequest request, std::string worker_request_id, WorkerSelector* selector,
                RelayOptions options, ResponseSink* sink, std::optional<absl::Time> deadline);
  ~SequenceRelay();

  // Starts the first attempt (once). REQUIRES: Init() succeeded.
  absl::Status Init(const Tokenizer* tokenizer);
  void Start();
  // The client cancelled: cancels the worker stream and finishes CANCELLED.
  void Cancel();
  // Called periodically by the router's watchdog.
  void CheckProgress(absl::Time now);


 private:
  class Attempt;
  friend class Attempt;

  void StartAttemptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnMessage(Attempt* attempt, const v1::SubmitResponse& message);
  void OnAttemptDone(Attempt* attempt, const absl::Status& status);
  void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOkLocked(v1::FinishReason reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelWorkerSequenceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PreparedRequest request_;
  const std::string worker_request_id_;
  WorkerSelector* const selector_;
  const RelayOptions options_;
  const std::optional<absl::Time> deadline_;

  mutable absl::Mutex mu_;
  ResponseSink* sink_ ABSL_GUARDED_BY(mu_);  // null once finished
  std::optional<OutputAssembler> assembler_ ABSL_GUARDED_BY(mu_);
  Attempt* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::shared_ptr<WorkerEndpoint> current_endpoint_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> failed_workers_ ABSL_GUARDED_BY(mu_);
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_message_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool client_cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;  // a stop string matched
  std::optional<v1::FinishReason> worker_finish_ ABSL_GUARDED_BY(mu_);
  std::string abandon_reason_ ABSL_GUARDED_BY(mu_);  // why the watchdog cancelled
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> retry_at_ ABSL_GUARDED_BY(mu_);  // waiting for a worker
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa

#endif  // GQA_ROUTER_SEQUENCE_RELAY_H_
