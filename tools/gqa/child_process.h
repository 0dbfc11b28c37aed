// ChildProcess: a server binary started by `gqa serve`: its own process
// group (so a terminal's Ctrl-C reaches only gqa serve, which stops the
// children in order), SIGTERM if gqa serve dies, stdout read through a pipe
// until the child prints its "listening on HOST:PORT" line, stderr shared.
// Thread-compatible.
#ifndef GQA_TOOLS_GQA_CHILD_PROCESS_H_
#define GQA_TOOLS_GQA_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gqa {

class ChildProcess {
 public:
  // argv[0] is the binary's path. INTERNAL when it cannot be started.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(std::vector<std::string> argv);
  // Stops the child (SIGTERM, then SIGKILL after 5 s) if it still runs.
  ~ChildProcess();

  // Reads stdout until a line containing "listening on "; returns the
  // HOST:PORT after it. DEADLINE_EXCEEDED after `timeout`; UNAVAILABLE when
  // the child exits first (its stderr has said why). Later output is copied
  // to this process's stderr.
  absl::StatusOr<std::string> WaitForListenAddress(absl::Duration timeout);

  // SIGTERM, then waits up to `grace` before SIGKILL. Returns the wait
  // status (waitpid's), or -1 if it was already reaped.
  int Stop(absl::Duration grace);

  // Reaps the child if it has exited; true then.
  bool Exited();

  // The line WaitForListenAddress() found ("" before).
  const std::string& ready_line() const { return ready_line_; }
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

 private:
  ChildProcess(pid_t pid, int stdout_fd, std::string name)
      : pid_(pid), stdout_fd_(stdout_fd), name_(std::move(name)) {}

  pid_t pid_;
  int stdout_fd_;
  std::string name_;
  std::string ready_line_;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::thread forwarder_;
};

// The sibling binary `name`: beside this one (an install) or in the build
// tree (build/tools/gqa/gqa -> build/tools/<dir>/<name>). NOT_FOUND saying so.
absl::StatusOr<std::string> FindSiblingBinary(const std::string& name, const std::string& dir);

// "gqa-worker listening on 127.0.0.1:4567 (...)" -> "127.0.0.1:4567".
absl::StatusOr<std::string> ListenAddressFromLine(const std::string& line);
// "gqa-router listening on ... (...; http on 127.0.0.1:8000)" -> "127.0.0.1:8000";
// NOT_FOUND when the line names no HTTP address.
absl::StatusOr<std::string> HttpAddressFromLine(const std::string& line);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_CHILD_PROCESS_H_
