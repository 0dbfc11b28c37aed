// Admission: the router's limits on concurrent Generate/Complete calls. A
// call holds one of `max_in_flight` slots while its sequence runs; when all
// are taken it waits in a FIFO queue of at most `max_queued` calls, and past
// that it is refused RESOURCE_EXHAUSTED. Each API key may also have at most
// its max_streams calls running or queued. The limits hold per router
// process: replicas behind a load balancer each apply their own. Thread-safe.
#ifndef GQA_ROUTER_ADMISSION_H_
#define GQA_ROUTER_ADMISSION_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace gqa {

struct AdmissionOptions {
  int64_t max_in_flight = 256;
  int64_t max_queued = 1024;
};

class Admission {
 public:
  explicit Admission(AdmissionOptions options) : options_(options) {}

  // Admits call `call_id` of `key` (whose limit is key_limit, 0 for none).
  // `start` runs once the call holds a slot: before Enter returns when one
  // is free, otherwise on the thread of the Leave that frees one. Errors
  // (start not run): RESOURCE_EXHAUSTED when the key's limit or the queue is
  // full.
  absl::Status Enter(const std::string& call_id, const std::string& key, int64_t key_limit,
                     std::function<void()> start);

  // The call ended: frees its slot (starting the next queued call) or drops
  // it from the queue. Returns false when the call was unknown.
  bool Leave(const std::string& call_id);

  int64_t in_flight() const;
  int64_t queued() const;

 private:
  struct Call {
    std::string key;
    bool running = false;
  };

  const AdmissionOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Call> calls_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> per_key_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<std::string, std::function<void()>>> queue_ ABSL_GUARDED_BY(mu_);
  int64_t running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gqa

#endif  // GQA_ROUTER_ADMISSION_H_
