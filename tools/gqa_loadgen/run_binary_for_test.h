// Test helper for tools/gqa_loadgen/ tests: runs a built binary as a user
// would (posix_spawn, stdout and stderr to temporary files) and returns its
// exit status and output. Header-only; not for production code.
#ifndef GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_
#define GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace gqa::loadgen {

struct BinaryRun {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

inline std::string ReadFileForTesting(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

inline BinaryRun RunBinaryForTesting(const std::string& binary,
                                     const std::vector<std::string>& args) {
  std::string out_path = ::testing::TempDir() + "/loadgen_out_XXXXXX";
  std::string err_path = ::testing::TempDir() + "/loadgen_err_XXXXXX";
  const int out_fd = mkstemp(out_path.data());
  const int err_fd = mkstemp(err_path.data());
  BinaryRun run;
  if (out_fd < 0 || err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return run;
  }
  std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_fd);
  close(err_fd);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << binary;
    return run;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = ReadFileForTesting(out_path);
  run.err = ReadFileForTesting(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return run;
}

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_
