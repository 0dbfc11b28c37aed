// gqa-loadgen's PNG plots (--plot DIR), drawn by gnuplot: the CDFs of TTFT,
// TPOT, inter-token and end-to-end latency (one curve per run), and with
// --sweep the throughput-latency curves (output tokens/s against TTFT and
// TPOT p50/p99) and achieved against offered load. Data files and the
// script are written beside the PNGs, so a plot can be redrawn or restyled
// without rerunning the load. Thread-compatible.
#ifndef GQA_TOOLS_GQA_LOADGEN_PLOTS_H_
#define GQA_TOOLS_GQA_LOADGEN_PLOTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/run_result.h"

namespace gqa::loadgen {

struct PlotRun {
  std::string label;  // the legend, e.g. "rate 4"
  std::vector<RequestRecord> records;
  RunResult result;
};

struct PlotSet {
  std::vector<PlotRun> runs;
  // A sweep: "rate" or "concurrency", and one value per run. Empty: no sweep.
  std::string sweep_variable;
  std::vector<double> sweep_values;
};

struct PlotFiles {
  std::string script_path;       // DIR/plots.gp
  std::vector<std::string> pngs;  // what the script draws, absolute or as given
};

// Creates `dir` if needed, writes the data files and the gnuplot script.
// INVALID_ARGUMENT naming --plot when the directory cannot be written, or its
// path holds a quote or newline (gnuplot string syntax).
absl::StatusOr<PlotFiles> WritePlotFiles(const std::string& dir, const PlotSet& set);

// The script alone (what WritePlotFiles writes), for tests.
std::string GnuplotScript(const std::string& dir, const PlotSet& set,
                          std::vector<std::string>* pngs);

// The first executable `name` in the colon-separated `path_list` (the PATH).
std::optional<std::string> FindExecutable(const std::string& name, const std::string& path_list);

// Runs `gnuplot script` and waits. INTERNAL when it cannot start or fails.
absl::Status RunGnuplot(const std::string& gnuplot, const std::string& script_path);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_PLOTS_H_
