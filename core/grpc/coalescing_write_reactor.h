// CoalescingWriteReactor: a server-streaming gRPC reactor that keeps at most
// one write in flight and merges whatever arrives meanwhile into the next
// message, so a slow reader costs only its own stream's output. Producers on
// any thread call Update (add to the pending message) and Close (add the
// last part and the final status, sent once everything before it is
// written). Used by the worker's Submit and the router's Generate streams.
//
// gRPC may run OnWriteDone, and OnDone (which deletes a reactor), inline in
// StartWrite or Finish, so both are called only after the lock is released,
// and nothing of the reactor is touched after them. A caller that claimed
// neither touches nothing after releasing the lock either: another thread
// may finish, and delete, the reactor at once.
// Thread-safe.
#ifndef GQA_CORE_GRPC_COALESCING_WRITE_REACTOR_H_
#define GQA_CORE_GRPC_COALESCING_WRITE_REACTOR_H_

#include <optional>

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace gqa {

template <typename Response>
class CoalescingWriteReactor : public grpc::ServerWriteReactor<Response> {
 public:
  // Lets `add` change the pending message, then writes it if no write is in
  // flight. Ignored once Close was called.
  void Update(absl::FunctionRef<void(Response& pending)> add) {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return;
      add(pending_);
      has_pending_ = true;
      next = PumpLocked();
    }
    Do(this, next);
  }

  // The last call: `close(pending, broken)` may add to the pending message
  // (broken: a write failed or MarkBroken was called, so nothing more will
  // be written) and returns the status the call finishes with, once the
  // pending message is written. Later calls are ignored.
  void Close(absl::FunctionRef<grpc::Status(Response& pending, bool broken)> close) {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      final_status_ = close(pending_, broken_);
      has_pending_ = has_pending_ || pending_.ByteSizeLong() > 0;
      next = PumpLocked();
    }
    Do(this, next);
  }

  // The client is gone (from OnCancel): stop writing; Close still finishes.
  void MarkBroken() {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }

  void OnWriteDone(bool ok) override {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) broken_ = true;
      next = PumpLocked();
    }
    Do(this, next);
  }

 private:
  // What PumpLocked claimed, done once the lock is released.
  struct Next {
    bool write = false;
    std::optional<grpc::Status> finish;
  };

  Next PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Next next;
    if (write_in_flight_ || finished_) return next;
    if (has_pending_ && !broken_) {
      in_flight_.Swap(&pending_);
      pending_.Clear();
      has_pending_ = false;
      write_in_flight_ = true;
      next.write = true;
    } else if (final_status_.has_value()) {
      finished_ = true;
      next.finish = *final_status_;
    }
    return next;
  }

  // REQUIRES: mu_ not held. The reactor may be gone when this returns, and
  // with nothing claimed it may be gone already: then `self` is not touched.
  static void Do(CoalescingWriteReactor* self, const Next& next) {
    if (next.write) {
      self->StartWrite(&self->in_flight_);
    } else if (next.finish.has_value()) {
      self->Finish(*next.finish);
    }
  }

  absl::Mutex mu_;
  Response pending_ ABSL_GUARDED_BY(mu_);
  Response in_flight_;  // owned by the write in flight
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa

#endif  // GQA_CORE_GRPC_COALESCING_WRITE_REACTOR_H_
