// gqa-loadgen: the load-testing harness for gqaserve routers and workers.
// Usage and flags: `gqa-loadgen --help` and docs/loadgen.md. Bad flags exit 2,
// a failed run (target unreachable, an output that cannot be written) 1.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "tools/gqa_loadgen/compare.h"
#include "tools/gqa_loadgen/options.h"
#include "tools/gqa_loadgen/runner.h"

int main(int argc, char** argv) {
  absl::StatusOr<gqa::loadgen::LoadgenOptions> options =
      gqa::loadgen::ParseLoadgenOptions(absl::MakeConstSpan(argv + 1, argc - 1));
  if (!options.ok()) {
    std::fprintf(stderr, "gqa-loadgen: %s\n(see gqa-loadgen --help)\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(gqa::loadgen::kLoadgenUsage, stdout);
    return 0;
  }
  if (!options->compare_paths.empty()) {
    absl::StatusOr<std::string> table = gqa::loadgen::CompareResultFiles(
        options->compare_paths[0], options->compare_paths[1]);
    if (!table.ok()) {
      std::fprintf(stderr, "gqa-loadgen compare: %s\n", std::string(table.status().message()).c_str());
      return 2;
    }
    std::fputs(table->c_str(), stdout);
    return 0;
  }
  gqa::loadgen::RunnerEnv env;
  const char* path = std::getenv("PATH");
  env.path_list = path != nullptr ? path : "/usr/bin:/bin";
  env.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  const absl::Status status = gqa::loadgen::RunLoadgen(*options, env);
  if (!status.ok()) {
    std::fprintf(stderr, "gqa-loadgen: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
