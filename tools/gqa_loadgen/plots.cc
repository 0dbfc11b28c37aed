#include "tools/gqa_loadgen/plots.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/status.h"
#include "tools/gqa_loadgen/report_json.h"
#include "tools/gqa_loadgen/stats.h"

extern char** environ;

namespace gqa::loadgen {
namespace {

constexpr size_t kMaxCdfPoints = 2000;

struct Metric {
  const char* name;   // file stem
  const char* title;  // axis label
};
constexpr Metric kCdfMetrics[] = {{"ttft", "time to first token (ms)"},
                                  {"tpot", "time per output token (ms)"},
                                  {"itl", "inter-token latency (ms)"},
                                  {"e2e", "end-to-end latency (ms)"}};

std::string Quote(const std::string& s) { return absl::StrCat("'", s, "'"); }

std::vector<double> Samples(const std::vector<RequestRecord>& records, absl::string_view metric) {
  std::vector<double> samples;
  for (const RequestRecord& r : records) {
    if (r.warmup || !r.ok()) continue;
    const RequestMetrics m = ComputeRequestMetrics(r);
    if (metric == "e2e") samples.push_back(m.e2e_ms);
    if (!m.has_first_token) continue;
    if (metric == "ttft") samples.push_back(m.ttft_ms);
    if (metric == "tpot" && m.tpot_ms) samples.push_back(*m.tpot_ms);
    if (metric == "itl") samples.insert(samples.end(), m.itl_ms.begin(), m.itl_ms.end());
  }
  std::sort(samples.begin(), samples.end());
  return samples;
}

// "value fraction" lines: every sample, or kMaxCdfPoints evenly spaced ranks.
std::string CdfData(const std::vector<double>& sorted) {
  std::string out;
  const size_t n = sorted.size();
  const size_t points = std::min(n, kMaxCdfPoints);
  for (size_t i = 0; i < points; ++i) {
    const size_t rank = points == n ? i : (i * (n - 1)) / (points - 1);
    absl::StrAppendFormat(&out, "%.4f %.6f\n", sorted[rank],
                          static_cast<double>(rank + 1) / static_cast<double>(n));
  }
  return out;
}

std::string DataPath(const std::string& dir, absl::string_view metric, size_t run) {
  return absl::StrCat(dir, "/", metric, "_", run, ".dat");
}

}  // namespace

std::string GnuplotScript(const std::string& dir, const PlotSet& set,
                          std::vector<std::string>* pngs) {
  std::string s =
      "# gqa-loadgen plots; redraw with: gnuplot plots.gp\n"
      "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
      "  set terminal pngcairo size 960,600 noenhanced\n"
      "} else {\n"
      "  set terminal png size 960,600 noenhanced\n"
      "}\n"
      "set grid\nset key bottom right\n";
  for (const Metric& metric : kCdfMetrics) {
    const std::string png = absl::StrCat(dir, "/", metric.name, "_cdf.png");
    pngs->push_back(png);
    absl::StrAppend(&s, "set output ", Quote(png), "\nset title ",
                    Quote(absl::StrCat("CDF of ", metric.title)), "\nset xlabel ",
                    Quote(metric.title), "\nset ylabel 'fraction of requests'\nset yrange [0:1]\n");
    std::vector<std::string> curves;
    for (size_t i = 0; i < set.runs.size(); ++i) {
      curves.push_back(absl::StrCat(Quote(DataPath(dir, metric.name, i)),
                                    " using 1:2 with steps lw 2 title ",
                                    Quote(set.runs[i].label)));
    }
    absl::StrAppend(&s, "plot ", absl::StrJoin(curves, ", \\\n     "), "\n");
  }
  if (!set.sweep_variable.empty()) {
    const std::string data = Quote(absl::StrCat(dir, "/sweep.dat"));
    const std::string offered =
        set.sweep_variable == "rate" ? "offered rate (requests/s)" : "concurrency";
    struct Curve {
      const char* png;
      const char* ylabel;
      int p50_col;
    };
    for (const Curve& c : {Curve{"throughput_ttft.png", "TTFT (ms)", 4},
                           Curve{"throughput_tpot.png", "TPOT (ms)", 6},
                           Curve{"throughput_e2e.png", "end-to-end latency (ms)", 8}}) {
      const std::string png = absl::StrCat(dir, "/", c.png);
      pngs->push_back(png);
      absl::StrAppend(&s, "set output ", Quote(png), "\nset title ",
                      Quote(absl::StrCat("Throughput vs ", c.ylabel, " over the ",
                                         set.sweep_variable, " sweep")),
                      "\nset xlabel 'output tokens/s'\nset ylabel ", Quote(c.ylabel),
                      "\nset autoscale y\nset key top left\n", "plot ", data, " using 3:",
                      c.p50_col, " with linespoints lw 2 pt 7 title 'p50', \\\n     ", data,
                      " using 3:", c.p50_col + 1, " with linespoints lw 2 pt 5 title 'p99', \\\n",
                      "     ", data, " using 3:", c.p50_col,
                      ":(sprintf('%g', $1)) with labels offset 0,1 notitle\n");
    }
    const std::string png = absl::StrCat(dir, "/offered_vs_achieved.png");
    pngs->push_back(png);
    absl::StrAppend(&s, "set output ", Quote(png),
                    "\nset title 'Achieved throughput'\nset xlabel ", Quote(offered),
                    "\nset ylabel 'requests/s'\nset autoscale y\nset key top left\nplot ", data,
                    " using 1:2 with linespoints lw 2 pt 7 title 'achieved (successful) req/s'\n");
  }
  return s;
}

absl::StatusOr<PlotFiles> WritePlotFiles(const std::string& dir, const PlotSet& set) {
  if (dir.find_first_of("'\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--plot '", dir, "': the path may not hold a quote or a newline"));
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--plot ", dir, ": cannot create the directory: ", error.message()));
  }
  for (size_t i = 0; i < set.runs.size(); ++i) {
    for (const Metric& metric : kCdfMetrics) {
      RETURN_IF_ERROR(WriteTextFile("plot", DataPath(dir, metric.name, i),
                                    CdfData(Samples(set.runs[i].records, metric.name))));
    }
  }
  if (!set.sweep_variable.empty()) {
    std::string data =
        "# value req/s out_tok/s ttft_p50 ttft_p99 tpot_p50 tpot_p99 e2e_p50 e2e_p99\n";
    for (size_t i = 0; i < set.runs.size() && i < set.sweep_values.size(); ++i) {
      const RunResult& r = set.runs[i].result;
      absl::StrAppendFormat(&data, "%g %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f\n",
                            set.sweep_values[i], r.request_throughput_rps,
                            r.output_token_throughput_tps, r.ttft_ms.p50, r.ttft_ms.p99,
                            r.tpot_ms.p50, r.tpot_ms.p99, r.e2e_ms.p50, r.e2e_ms.p99);
    }
    RETURN_IF_ERROR(WriteTextFile("plot", absl::StrCat(dir, "/sweep.dat"), data));
  }
  PlotFiles files;
  files.script_path = absl::StrCat(dir, "/plots.gp");
  RETURN_IF_ERROR(WriteTextFile("plot", files.script_path, GnuplotScript(dir, set, &files.pngs)));
  return files;
}

std::optional<std::string> FindExecutable(const std::string& name, const std::string& path_list) {
  for (absl::string_view dir : absl::StrSplit(path_list, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

absl::Status RunGnuplot(const std::string& gnuplot, const std::string& script_path) {
  std::vector<char*> argv = {const_cast<char*>(gnuplot.c_str()),
                             const_cast<char*>(script_path.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, gnuplot.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", gnuplot));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(gnuplot, " ", script_path, " failed (status ",
                                            status, "); see its messages above"));
  }
  return absl::OkStatus();
}

}  // namespace gqa::loadgen
