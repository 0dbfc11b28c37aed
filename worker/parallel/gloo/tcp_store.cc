#include "worker/parallel/gloo/tcp_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/log.h"
#include "gloo/common/error.h"

namespace gqa {
namespace {

// Wire format, both directions: op (1 byte), then length-prefixed strings.
// Request: op 'S' key value -> reply 'S'; op 'G' key -> reply 'F' value or 'N'.
constexpr uint32_t kMaxFieldBytes = 64u << 20;

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteField(int fd, const char* data, size_t n) {
  const uint32_t len = static_cast<uint32_t>(n);
  return WriteAll(fd, &len, sizeof(len)) && WriteAll(fd, data, n);
}

bool ReadField(int fd, std::vector<char>& out) {
  uint32_t len = 0;
  if (!ReadAll(fd, &len, sizeof(len)) || len > kMaxFieldBytes) return false;
  out.resize(len);
  return ReadAll(fd, out.data(), len);
}

absl::StatusOr<addrinfo*> Resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  const std::string service = absl::StrCat(port);
  const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", host, "': ", ::gai_strerror(rc)));
  }
  return result;
}

std::string NumericHost(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST] = {0};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), nullptr, 0,
                    NI_NUMERICHOST) != 0) {
    return "";
  }
  return host;
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' is not HOST:PORT (port 0-65535)"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<TcpStoreServer>> TcpStoreServer::Start(const std::string& address) {
  auto host_port = ParseHostPort(address);
  if (!host_port.ok()) return host_port.status();
  auto resolved = Resolve(host_port->first, host_port->second, /*passive=*/true);
  if (!resolved.ok()) return resolved.status();
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* ai = *resolved; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) break;
    error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(*resolved);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("tp rendezvous: cannot listen on ", address, ": ",
                                               error, "; pick another --tp-addr port"));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int port = ntohs(bound.ss_family == AF_INET6
                             ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<TcpStoreServer>(new TcpStoreServer(fd, port));
}

TcpStoreServer::TcpStoreServer(int listen_fd, int port) : listen_fd_(listen_fd), port_(port) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TcpStoreServer::~TcpStoreServer() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (int fd : client_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  ::shutdown(listen_fd_, SHUT_RDWR);
  accept_thread_.join();
  {
    absl::MutexLock lock(&mu_);
    threads.swap(client_threads_);
  }
  for (std::thread& t : threads) t.join();
  ::close(listen_fd_);
}

void TcpStoreServer::AcceptLoop() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    client_fds_.push_back(fd);
    client_threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TcpStoreServer::Serve(int fd) {
  std::vector<char> key, value;
  char op = 0;
  while (ReadAll(fd, &op, 1) && ReadField(fd, key)) {
    const std::string name(key.begin(), key.end());
    if (op == 'S') {
      if (!ReadField(fd, value)) break;
      {
        absl::MutexLock lock(&mu_);
        values_[name] = value;
      }
      if (!WriteAll(fd, "S", 1)) break;
    } else if (op == 'G') {
      bool found = false;
      {
        absl::MutexLock lock(&mu_);
        auto it = values_.find(name);
        if (it != values_.end()) {
          found = true;
          value = it->second;
        }
      }
      if (!(found ? WriteAll(fd, "F", 1) && WriteField(fd, value.data(), value.size())
                  : WriteAll(fd, "N", 1))) {
        break;
      }
    } else {
      LOG(WARNING) << "tp rendezvous: unknown request op=" << static_cast<int>(op);
      break;
    }
  }
  // The fd is closed in one place, under the lock, so a shutdown never hits a reused fd.
  absl::MutexLock lock(&mu_);
  for (auto it = client_fds_.begin(); it != client_fds_.end(); ++it) {
    if (*it == fd) {
      client_fds_.erase(it);
      break;
    }
  }
  ::close(fd);
}

absl::StatusOr<std::unique_ptr<TcpStore>> TcpStore::Connect(const std::string& address,
                                                            std::chrono::milliseconds timeout) {
  auto host_port = ParseHostPort(address);
  if (!host_port.ok()) return host_port.status();
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  std::string error;
  while (true) {
    auto resolved = Resolve(host_port->first, host_port->second, /*passive=*/false);
    if (!resolved.ok()) return resolved.status();
    for (addrinfo* ai = *resolved; ai != nullptr; ai = ai->ai_next) {
      const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ::freeaddrinfo(*resolved);
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        // A server that stops answering fails a read instead of hanging it.
        timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_storage local{};
        socklen_t len = sizeof(local);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
        return std::unique_ptr<TcpStore>(new TcpStore(fd, NumericHost(local, len), timeout));
      }
      error = std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(*resolved);
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "tp rendezvous: nobody listens on ", address, " after ", timeout.count(),
          " ms (", error, "); start rank 0 with the same --tp-addr"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

TcpStore::~TcpStore() { ::close(fd_); }

bool TcpStore::Request(char op, const std::string& key, const std::vector<char>& value,
                       std::vector<char>* out) {
  bool ok = WriteAll(fd_, &op, 1) && WriteField(fd_, key.data(), key.size());
  if (ok && op == 'S') ok = WriteField(fd_, value.data(), value.size());
  char reply = 0;
  if (!ok || !ReadAll(fd_, &reply, 1)) {
    throw gloo::IoException(absl::StrCat("tp rendezvous: lost the store while reading '", key, "'"));
  }
  if (reply != 'F') return reply == 'S';
  if (!ReadField(fd_, *out)) {
    throw gloo::IoException(absl::StrCat("tp rendezvous: lost the store while reading '", key, "'"));
  }
  return true;
}

void TcpStore::set(const std::string& key, const std::vector<char>& data) {
  Request('S', key, data, nullptr);
}

std::vector<char> TcpStore::get(const std::string& key) {
  wait({key});
  std::vector<char> value;
  Request('G', key, {}, &value);
  return value;
}

void TcpStore::wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }

void TcpStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  const absl::Time deadline = absl::Now() + absl::FromChrono(timeout);
  std::vector<char> ignored;
  for (const std::string& key : keys) {
    while (!Request('G', key, {}, &ignored)) {
      if (absl::Now() >= deadline) {
        throw gloo::IoException(absl::StrCat("Timed out after ", timeout.count(),
                                             " ms waiting for tp rendezvous keys ",
                                             absl::StrJoin(keys, ",")));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
}

}  // namespace gqa
