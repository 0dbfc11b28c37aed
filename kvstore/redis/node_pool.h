// Idle connections to one Redis node, kept for reuse by the cluster client.
// A caller takes a connection out (Acquire), uses it alone, and hands it back
// (Release); connecting happens outside the lock, so callers never wait on
// each other's I/O. Thread-safe.
#ifndef GQA_KVSTORE_REDIS_NODE_POOL_H_
#define GQA_KVSTORE_REDIS_NODE_POOL_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/redis_connection.h"

namespace gqa::kvstore {

class NodePool {
 public:
  // `max_idle`: connections kept once returned; more may be open while busy.
  NodePool(RedisAddress address, absl::Duration connect_timeout, int max_idle);
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;

  struct Lease {
    std::unique_ptr<RedisConnection> connection;
    bool reused = false;  // taken from the idle list rather than just connected
  };

  // An idle connection, or a new one connected before min(deadline, now +
  // connect_timeout). UNAVAILABLE, naming the node, when it cannot connect.
  absl::StatusOr<Lease> Acquire(absl::Time deadline);
  // Keeps `connection` for reuse unless it is broken or enough are idle.
  void Release(std::unique_ptr<RedisConnection> connection);
  // Closes the idle connections (after the node failed or restarted).
  void Clear();

  const RedisAddress& address() const { return address_; }
  int num_idle() const;

 private:
  const RedisAddress address_;
  const absl::Duration connect_timeout_;
  const int max_idle_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_NODE_POOL_H_
