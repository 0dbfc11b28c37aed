// RunLoadgen: one gqa-loadgen invocation from parsed options to printed and
// written results: connect, read the target's vocabulary, build the workload,
// run each load phase (one, or one per sweep value) with a live progress
// line, then the quality pass, then the summary tables, JSON, CSV and plots.
// Called by main.cc only; everything from the process environment arrives in
// RunnerEnv. Not thread-safe (one call at a time).
#ifndef GQA_TOOLS_GQA_LOADGEN_RUNNER_H_
#define GQA_TOOLS_GQA_LOADGEN_RUNNER_H_

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "tools/gqa_loadgen/options.h"

namespace gqa::loadgen {

struct RunnerEnv {
  std::string path_list;         // $PATH, to find gnuplot
  bool stderr_is_tty = false;    // draw the progress line (ProgressMode::kAuto)
  FILE* out = stdout;            // summary tables
  FILE* err = stderr;            // progress and notes
};

// UNAVAILABLE / NOT_FOUND / ... when the target cannot be used, or the file
// errors of the outputs; the results written so far stay.
absl::Status RunLoadgen(const LoadgenOptions& options, const RunnerEnv& env);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_RUNNER_H_
