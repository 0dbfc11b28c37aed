// Test-only: an in-process stand-in for a Redis node on 127.0.0.1 (port 0).
// It parses each command (a RESP array of bulk strings) and answers with the
// raw bytes its handler returns, so tests can script redirections, transient
// errors, silence and malformed replies. For unit tests of RedisConnection
// and RedisClusterClient. Thread-safe; the handler runs on one thread per
// connection and must be thread-safe itself.
#ifndef GQA_KVSTORE_REDIS_TESTING_FAKE_REDIS_NODE_H_
#define GQA_KVSTORE_REDIS_TESTING_FAKE_REDIS_NODE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kvstore/redis/redis_address.h"

namespace gqa::kvstore {

class FakeRedisNode {
 public:
  // Bytes to send back for `command` ("" sends nothing: the client waits);
  // std::nullopt closes the connection instead.
  using Handler =
      std::function<std::optional<std::string>(const std::vector<std::string>& command)>;

  // Listens on a free loopback port. UNAVAILABLE when it cannot.
  static absl::StatusOr<std::unique_ptr<FakeRedisNode>> Start(Handler handler);
  FakeRedisNode(const FakeRedisNode&) = delete;
  FakeRedisNode& operator=(const FakeRedisNode&) = delete;
  // Closes every connection and joins the threads.
  ~FakeRedisNode();

  const RedisAddress& address() const { return address_; }
  int num_connections_accepted() const { return num_accepted_.load(); }
  int num_commands() const { return num_commands_.load(); }

 private:
  FakeRedisNode(Handler handler, int listen_fd, int stop_fd, RedisAddress address);
  void AcceptLoop();
  void ServeConnection(int fd);

  const Handler handler_;
  const int listen_fd_;
  const int stop_fd_;  // an eventfd; readable once the node is stopping
  const RedisAddress address_;
  std::atomic<int> num_accepted_{0};
  std::atomic<int> num_commands_{0};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::vector<std::thread> connection_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_TESTING_FAKE_REDIS_NODE_H_
