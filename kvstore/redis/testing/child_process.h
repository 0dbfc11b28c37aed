// Test-only: starting and stopping helper processes (redis-server,
// redis-cli) for RedisClusterFixture. A child runs a program from PATH with
// stdout and stderr in a log file and is SIGKILLed by the kernel if the
// thread that started it exits first (PR_SET_PDEATHSIG), so a crashing test
// leaves nothing behind. Thread-compatible.
#ifndef GQA_KVSTORE_REDIS_TESTING_CHILD_PROCESS_H_
#define GQA_KVSTORE_REDIS_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gqa::kvstore {

// Starts argv[0] (searched on PATH) with `argv`; output goes to `log_path`
// (created or truncated). UNAVAILABLE when fork or opening the log fails; a
// program that cannot be executed exits with status 127.
absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& argv, const std::string& log_path);

// Waits until `pid` exits or `deadline` passes. Its exit code (128 + signal
// when killed by one) once it exited and was reaped; nullopt while it runs.
std::optional<int> WaitChild(pid_t pid, absl::Time deadline);

// Sends SIGKILL and reaps `pid`.
void KillChild(pid_t pid);

// The last `max_bytes` bytes of a log file, for error messages.
std::string LogTail(const std::string& path, size_t max_bytes = 2000);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_TESTING_CHILD_PROCESS_H_
