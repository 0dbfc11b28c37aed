// GenerateStream: one in-process call of the router's Inference.Generate
// (gRPC callback API), read by a blocking consumer: the HTTP front's handler
// thread waits for the next message with a timeout, so it can send SSE
// heartbeats and notice a client that left. Cancel() (or destruction before
// the end) cancels the call, which the router propagates to the worker.
// At most kMaxBuffered messages are read ahead. Thread-safe.
#ifndef GQA_ROUTER_HTTP_GENERATE_STREAM_H_
#define GQA_ROUTER_HTTP_GENERATE_STREAM_H_

#include <deque>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gqa/v1/inference.grpc.pb.h"

namespace gqa {

class GenerateStream final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  static constexpr size_t kMaxBuffered = 16;

  // Starts the call. `authorization` is forwarded as the call's metadata.
  GenerateStream(v1::Inference::Stub* stub, const v1::GenerateRequest& request,
                 const std::optional<std::string>& authorization);
  // Cancels the call if it is still running and waits for its end.
  ~GenerateStream() override;

  enum class Event { kMessage, kEnd, kTimeout };
  // Waits up to `timeout` for the next message (kMessage, in `*message`) or
  // the call's end (kEnd; its status in `*status`, after every message).
  Event Next(absl::Duration timeout, v1::GenerateResponse* message, absl::Status* status);

  void Cancel();

  // grpc::ClientReadReactor.
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !buffered_.empty() || done_; }

  grpc::ClientContext context_;
  v1::GenerateResponse incoming_;  // owned by the read in flight

  mutable absl::Mutex mu_;
  std::deque<v1::GenerateResponse> buffered_ ABSL_GUARDED_BY(mu_);
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  absl::Notification ended_;  // OnDone has returned from its last use of members
};

}  // namespace gqa

#endif  // GQA_ROUTER_HTTP_GENERATE_STREAM_H_
