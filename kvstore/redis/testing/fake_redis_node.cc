#include "kvstore/redis/testing/fake_redis_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kvstore/redis/resp.h"

namespace gqa::kvstore {
namespace {

// Waits until `fd` is readable; false once `stop_fd` is (the node stops).
bool WaitReadable(int fd, int stop_fd) {
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int rc = poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || (fds[1].revents & POLLIN)) return false;
    if (fds[0].revents != 0) return true;
  }
}

bool SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeRedisNode>> FakeRedisNode::Start(Handler handler) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("fake redis node cannot listen: ", error));
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  RedisAddress address{"127.0.0.1", ntohs(addr.sin_port)};
  std::unique_ptr<FakeRedisNode> node(
      new FakeRedisNode(std::move(handler), fd, stop_fd, std::move(address)));
  node->accept_thread_ = std::thread([raw = node.get()] { raw->AcceptLoop(); });
  return node;
}

FakeRedisNode::FakeRedisNode(Handler handler, int listen_fd, int stop_fd, RedisAddress address)
    : handler_(std::move(handler)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      address_(std::move(address)) {}

FakeRedisNode::~FakeRedisNode() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    // An eventfd write of 1 cannot fail short of a bug; the joins below
    // would hang, so make that visible.
    std::abort();
  }
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
  close(listen_fd_);
  close(stop_fd_);
}

void FakeRedisNode::AcceptLoop() {
  while (WaitReadable(listen_fd_, stop_fd_)) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++num_accepted_;
    absl::MutexLock lock(&mu_);
    connection_threads_.emplace_back([this, fd] { ServeConnection(fd); });
  }
}

void FakeRedisNode::ServeConnection(int fd) {
  RespParser parser;
  char chunk[16 << 10];
  bool open = true;
  while (open && WaitReadable(fd, stop_fd_)) {
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    parser.Feed(absl::string_view(chunk, static_cast<size_t>(n)));
    while (open) {
      absl::StatusOr<std::optional<RespValue>> command = parser.Next();
      if (!command.ok()) {
        open = false;
        break;
      }
      if (!*command) break;
      std::vector<std::string> args;
      for (RespValue& arg : (*command)->elements) args.push_back(std::move(arg.str));
      ++num_commands_;
      const std::optional<std::string> reply = handler_(args);
      open = reply.has_value() && SendAll(fd, *reply);
    }
  }
  close(fd);
}

}  // namespace gqa::kvstore
