// CallTracker: counts the KvStoreService calls in flight and turns new ones
// away once the service drains, so that shutdown can wait for exactly the
// calls that were accepted (gRPC's own Server::Shutdown also waits for idle
// client connections to hang up, until its deadline). Thread-safe.
#ifndef GQA_KVSTORE_SERVICE_CALL_TRACKER_H_
#define GQA_KVSTORE_SERVICE_CALL_TRACKER_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace gqa::kvstore {

class CallTracker {
 public:
  // Counts a new call; returns false once draining (the call is counted all
  // the same, and should end at once with UNAVAILABLE).
  bool Begin() {
    absl::MutexLock lock(&mu_);
    ++active_;
    return !draining_;
  }
  // A call counted by Begin is over (its OnDone ran).
  void End() {
    absl::MutexLock lock(&mu_);
    --active_;
  }
  // Refuses new calls from now on and waits until none is in flight or
  // `timeout` passed; returns how many are still in flight.
  int64_t Drain(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    mu_.AwaitWithTimeout(absl::Condition(this, &CallTracker::IdleLocked), timeout);
    return active_;
  }
  int64_t active() {
    absl::MutexLock lock(&mu_);
    return active_;
  }

 private:
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ == 0; }

  absl::Mutex mu_;
  int64_t active_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_CALL_TRACKER_H_
