// One blocking TCP connection to a Redis node: connect with a deadline, send
// commands and read replies with poll()-based deadlines, TCP_NODELAY. The
// cluster client pools these per node; the test fixture uses them for admin
// commands. Thread-compatible: one thread at a time uses a connection.
#ifndef GQA_KVSTORE_REDIS_REDIS_CONNECTION_H_
#define GQA_KVSTORE_REDIS_REDIS_CONNECTION_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/resp.h"

namespace gqa::kvstore {

class RedisConnection {
 public:
  // Resolves `address` and connects to the first of its IPs that accepts
  // before `deadline`. UNAVAILABLE, naming the address, when none does.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const RedisAddress& address,
                                                                  absl::Time deadline);

  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection();

  // Sends one command and reads its reply. A Redis error reply ("-ERR ...")
  // is a successful call returning a RespValue with is_error(). UNAVAILABLE,
  // naming the address, when the connection fails, the peer closes, the
  // deadline passes or the reply is malformed; the connection is then
  // broken() and must be discarded.
  absl::StatusOr<RespValue> Call(absl::Span<const absl::string_view> args, absl::Time deadline);

  // The two halves of Call(), for pipelining: Send() writes bytes already
  // encoded with AppendCommand(); ReadReply() reads the next reply.
  absl::Status Send(absl::string_view encoded, absl::Time deadline);
  absl::StatusOr<RespValue> ReadReply(absl::Time deadline);

  // True after any failure; a broken connection is out of step with its
  // peer and every later call fails.
  bool broken() const { return !failure_.ok(); }
  const RedisAddress& address() const { return address_; }

 private:
  RedisConnection(RedisAddress address, int fd) : address_(std::move(address)), fd_(fd) {}
  absl::Status Broken(absl::string_view what);

  const RedisAddress address_;
  const int fd_;
  RespParser parser_;
  absl::Status failure_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_REDIS_CONNECTION_H_
