// Test helper: a TCP port on 127.0.0.1 that was free a moment ago (bind to
// port 0, read the kernel's choice, close), for processes that must be told
// their port up front. Header-only; tests of worker/service and tools only.
#ifndef GQA_WORKER_SERVICE_TESTING_FREE_PORT_H_
#define GQA_WORKER_SERVICE_TESTING_FREE_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gqa {

inline int FreeLoopbackPortForTesting() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_TESTING_FREE_PORT_H_
