// WorkerPool: the router's set of workers, from a static list of addresses
// and/or DNS names (a Kubernetes headless service) that are re-resolved
// periodically: a name's new addresses get endpoints, vanished ones are
// dropped (streams still open on a dropped endpoint keep it alive until they
// end). Thread-safe.
//
// Targets: "host:port" (an address used as is) or "dns:host:port" (every
// address host resolves to, re-resolved every resolve_interval).
#ifndef GQA_ROUTER_WORKER_POOL_H_
#define GQA_ROUTER_WORKER_POOL_H_

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "router/worker_endpoint.h"

namespace gqa {

struct WorkerPoolOptions {
  std::vector<std::string> targets;
  WorkerEndpointOptions endpoint;
  absl::Duration resolve_interval = absl::Seconds(5);
};

// Every address `host` resolves to, as "ip:port" (IPv6 in brackets).
// UNAVAILABLE naming the host when it does not resolve.
absl::StatusOr<std::vector<std::string>> ResolveAddresses(const std::string& host, int port);

class WorkerPool {
 public:
  // INVALID_ARGUMENT for a malformed target or an empty list.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Create(WorkerPoolOptions options);
  ~WorkerPool();

  std::vector<std::shared_ptr<WorkerEndpoint>> Endpoints() const;

 private:
  struct DnsTarget {
    std::string host;
    int port = 0;
  };
  explicit WorkerPool(WorkerPoolOptions options) : options_(std::move(options)) {}
  void Resolve();  // one round over the DNS targets
  void ResolveLoop();

  const WorkerPoolOptions options_;
  std::vector<std::string> static_addresses_;
  std::vector<DnsTarget> dns_targets_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<WorkerEndpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  std::thread resolver_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_WORKER_POOL_H_
