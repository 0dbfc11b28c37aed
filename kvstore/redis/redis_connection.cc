#include "kvstore/redis/redis_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa::kvstore {
namespace {

constexpr size_t kReadChunkBytes = 64 << 10;

// Milliseconds until `deadline` for poll(), rounded up; 0 once it passed.
int PollTimeoutMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

// Waits for `events` on `fd`. OK when ready; DEADLINE_EXCEEDED or the
// poll() error otherwise (callers turn both into UNAVAILABLE).
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc == 0) return absl::DeadlineExceededError("timed out");
    if (errno != EINTR) return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
  }
}

// Starts a non-blocking connect to one resolved address and waits for it.
absl::StatusOr<int> ConnectOne(const addrinfo& ai, absl::Time deadline) {
  const int fd =
      socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  absl::Status status;
  if (connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      status = absl::UnavailableError(absl::StrCat("connect: ", strerror(errno)));
    } else {
      status = WaitFor(fd, POLLOUT, deadline);
      if (status.ok()) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) status = absl::UnavailableError(absl::StrCat("connect: ", strerror(err)));
      } else if (absl::IsDeadlineExceeded(status)) {
        status = absl::UnavailableError("connect timed out");
      }
    }
  }
  if (!status.ok()) {
    close(fd);
    return status;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisAddress& address, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* resolved = nullptr;
  const std::string port = absl::StrCat(address.port);
  const int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &resolved);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("redis node ", address.ToString(),
                                               ": cannot resolve host: ", gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError("no addresses");
  std::optional<int> fd;
  for (const addrinfo* ai = resolved; ai != nullptr && !fd; ai = ai->ai_next) {
    absl::StatusOr<int> connected = ConnectOne(*ai, deadline);
    if (connected.ok()) {
      fd = *connected;
    } else {
      last = connected.status();
    }
  }
  freeaddrinfo(resolved);
  if (!fd) {
    return absl::UnavailableError(
        absl::StrCat("redis node ", address.ToString(), ": ", last.message()));
  }
  return std::unique_ptr<RedisConnection>(new RedisConnection(address, *fd));
}

RedisConnection::~RedisConnection() { close(fd_); }

absl::Status RedisConnection::Broken(absl::string_view what) {
  failure_ = absl::UnavailableError(absl::StrCat("redis node ", address_.ToString(), ": ", what));
  return failure_;
}

absl::Status RedisConnection::Send(absl::string_view encoded, absl::Time deadline) {
  if (broken()) return failure_;
  while (!encoded.empty()) {
    const ssize_t n = send(fd_, encoded.data(), encoded.size(), MSG_NOSIGNAL);
    if (n > 0) {
      encoded.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const absl::Status ready = WaitFor(fd_, POLLOUT, deadline);
      if (absl::IsDeadlineExceeded(ready)) return Broken("send timed out");
      if (!ready.ok()) return Broken(ready.message());
      continue;
    }
    return Broken(absl::StrCat("send: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<RespValue> RedisConnection::ReadReply(absl::Time deadline) {
  if (broken()) return failure_;
  char chunk[kReadChunkBytes];
  while (true) {
    absl::StatusOr<std::optional<RespValue>> next = parser_.Next();
    if (!next.ok()) return Broken(next.status().message());
    if (*next) return **std::move(next);
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      parser_.Feed(absl::string_view(chunk, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return Broken("connection closed by the server");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      const absl::Status ready = WaitFor(fd_, POLLIN, deadline);
      if (absl::IsDeadlineExceeded(ready)) return Broken("no reply before the deadline");
      if (!ready.ok()) return Broken(ready.message());
      continue;
    }
    return Broken(absl::StrCat("recv: ", strerror(errno)));
  }
}

absl::StatusOr<RespValue> RedisConnection::Call(absl::Span<const absl::string_view> args,
                                                absl::Time deadline) {
  RETURN_IF_ERROR(Send(EncodeCommand(args), deadline));
  return ReadReply(deadline);
}

}  // namespace gqa::kvstore
