#include "kvstore/redis/node_pool.h"

#include <algorithm>
#include <utility>

namespace gqa::kvstore {

NodePool::NodePool(RedisAddress address, absl::Duration connect_timeout, int max_idle)
    : address_(std::move(address)), connect_timeout_(connect_timeout), max_idle_(max_idle) {}

absl::StatusOr<NodePool::Lease> NodePool::Acquire(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      Lease lease{std::move(idle_.back()), true};
      idle_.pop_back();
      return lease;
    }
  }
  const absl::Time connect_deadline = std::min(deadline, absl::Now() + connect_timeout_);
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
      RedisConnection::Connect(address_, connect_deadline);
  if (!connection.ok()) return connection.status();
  return Lease{*std::move(connection), false};
}

void NodePool::Release(std::unique_ptr<RedisConnection> connection) {
  if (connection == nullptr || connection->broken()) return;
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(idle_.size()) < max_idle_) idle_.push_back(std::move(connection));
  // Otherwise `connection` closes here; closing does not block.
}

void NodePool::Clear() {
  std::vector<std::unique_ptr<RedisConnection>> closing;
  {
    absl::MutexLock lock(&mu_);
    closing.swap(idle_);
  }
}

int NodePool::num_idle() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

}  // namespace gqa::kvstore
