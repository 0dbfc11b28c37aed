// A TCP rendezvous store for Gloo (Gloo ships file, hash and Redis stores
// only): rank 0 runs TcpStoreServer on the group's --tp-addr, every rank
// (rank 0 too) reaches it through a TcpStore client, so ranks may sit on
// different hosts. Keys are set once and read by polling; the store is only
// used while a group connects. TcpStoreServer is thread-safe (a thread per
// connection); a TcpStore client is thread-compatible. Used by gloo_communicator.
#ifndef GQA_WORKER_PARALLEL_GLOO_TCP_STORE_H_
#define GQA_WORKER_PARALLEL_GLOO_TCP_STORE_H_

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gloo/rendezvous/store.h"

namespace gqa {

// Splits "HOST:PORT" (or "[V6]:PORT"). INVALID_ARGUMENT naming the address.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address);

class TcpStoreServer {
 public:
  // Listens on `address` ("HOST:PORT"; port 0 picks a free one).
  // UNAVAILABLE when it cannot bind (the message names the address).
  static absl::StatusOr<std::unique_ptr<TcpStoreServer>> Start(const std::string& address);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  int port() const { return port_; }

 private:
  TcpStoreServer(int listen_fd, int port);
  void AcceptLoop();
  void Serve(int fd);

  const int listen_fd_;
  const int port_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::vector<char>> values_ ABSL_GUARDED_BY(mu_);
  std::vector<int> client_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> client_threads_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
};

// A client. Gloo's Store interface reports failures by throwing
// gloo::IoException (connectFullMesh expects that); the caller catches.
class TcpStore : public gloo::rendezvous::Store {
 public:
  // Connects to `address`, retrying until `timeout` (rank 0 may start
  // later). DEADLINE_EXCEEDED when nobody listens by then.
  static absl::StatusOr<std::unique_ptr<TcpStore>> Connect(const std::string& address,
                                                           std::chrono::milliseconds timeout);
  ~TcpStore() override;

  // The local address of the connection to the server: an address of this
  // host that the server's host can reach (Gloo binds its pairs to it).
  const std::string& local_host() const { return local_host_; }

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  TcpStore(int fd, std::string local_host, std::chrono::milliseconds timeout)
      : fd_(fd), local_host_(std::move(local_host)), timeout_(timeout) {}
  // One request; returns whether the key was found and its value.
  bool Request(char op, const std::string& key, const std::vector<char>& value,
               std::vector<char>* out);

  const int fd_;
  const std::string local_host_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_GLOO_TCP_STORE_H_
