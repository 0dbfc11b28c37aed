#include "tools/gqa/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gqa {

absl::StatusOr<std::string> ListenAddressFromLine(const std::string& line) {
  const std::string kMarker = "listening on ";
  const size_t at = line.find(kMarker);
  if (at == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("no listen address in '", line, "'"));
  }
  std::string rest = line.substr(at + kMarker.size());
  rest = rest.substr(0, rest.find(' '));
  if (rest.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("no port in '", line, "'"));
  }
  return rest;
}

absl::StatusOr<std::string> HttpAddressFromLine(const std::string& line) {
  const std::string kMarker = "http on ";
  const size_t at = line.find(kMarker);
  if (at == std::string::npos) {
    return absl::NotFoundError(absl::StrCat("no HTTP address in '", line, "'"));
  }
  std::string rest = line.substr(at + kMarker.size());
  return rest.substr(0, rest.find_first_of(" )"));
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(std::vector<std::string> argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(pipe_fds[1], STDOUT_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  const std::string name = argv[0].substr(argv[0].rfind('/') + 1);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, pipe_fds[0], name));
}

ChildProcess::~ChildProcess() {
  Stop(absl::Seconds(5));
  if (forwarder_.joinable()) forwarder_.join();
  close(stdout_fd_);
}

absl::StatusOr<std::string> ChildProcess::WaitForListenAddress(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string buffer;
  while (true) {
    const size_t newline = buffer.find('\n');
    if (newline != std::string::npos) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (absl::StatusOr<std::string> address = ListenAddressFromLine(line); address.ok()) {
        std::cerr << line << "\n";
        ready_line_ = line;
        forwarder_ = std::thread([fd = stdout_fd_] {
          char chunk[4096];
          ssize_t n;
          while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
            if (write(STDERR_FILENO, chunk, static_cast<size_t>(n)) < 0) break;
          }
        });
        return address;
      }
      std::cerr << line << "\n";
      continue;
    }
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " did not start listening within ", absl::FormatDuration(timeout)));
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000))) <= 0) continue;
    char chunk[4096];
    const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat(name_, " exited before it was ready"));
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

bool ChildProcess::Exited() {
  if (reaped_) return true;
  if (waitpid(pid_, &wait_status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

int ChildProcess::Stop(absl::Duration grace) {
  if (Exited()) return -1;
  kill(pid_, SIGTERM);
  kill(pid_, SIGCONT);  // a stopped child handles its SIGTERM only once continued
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (Exited()) return wait_status_;
    absl::SleepFor(absl::Milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &wait_status_, 0);
  reaped_ = true;
  return wait_status_;
}

absl::StatusOr<std::string> FindSiblingBinary(const std::string& name, const std::string& dir) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return absl::InternalError("cannot read /proc/self/exe");
  self[n] = '\0';
  std::string here(self);
  here = here.substr(0, here.rfind('/'));
  for (const std::string& candidate :
       {absl::StrCat(here, "/", name), absl::StrCat(here, "/../", dir, "/", name)}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(name, " is not beside ", here,
                                          " nor in the build tree; build it first"));
}

}  // namespace gqa
