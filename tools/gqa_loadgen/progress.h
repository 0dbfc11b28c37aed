// The live progress line gqa-loadgen draws on a terminal while it runs:
// a bar, requests done, the current completion rate, recent TTFT and TPOT
// medians, requests in flight and errors, redrawn in place every half
// second. FormatProgressLine is pure; ProgressPrinter owns a thread and is
// thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_PROGRESS_H_
#define GQA_TOOLS_GQA_LOADGEN_PROGRESS_H_

#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/gqa_loadgen/driver.h"

namespace gqa::loadgen {

// One line, no newline, e.g.
// "[#########.........]  45% 90/200 req  9.8 req/s  TTFT p50 102.3 ms  TPOT p50 20.1 ms  in flight 12  errors 0"
std::string FormatProgressLine(const LiveStats& stats);

class ProgressPrinter {
 public:
  // Calls `source` every `interval` and redraws the line on `out`.
  ProgressPrinter(std::function<LiveStats()> source, FILE* out, absl::Duration interval);
  // Draws the last line, ends it with a newline, and joins the thread.
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

 private:
  void Draw();

  const std::function<LiveStats()> source_;
  FILE* const out_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_PROGRESS_H_
