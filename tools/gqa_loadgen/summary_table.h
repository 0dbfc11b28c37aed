// The plain-text tables gqa-loadgen prints at the end of a run: one run's
// summary (requests, throughput, goodput, latency percentiles, tokens, KV
// bytes, errors, the harness's CPU, quality) and a sweep's one line per
// point. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_SUMMARY_TABLE_H_
#define GQA_TOOLS_GQA_LOADGEN_SUMMARY_TABLE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tools/gqa_loadgen/quality.h"
#include "tools/gqa_loadgen/run_result.h"

namespace gqa::loadgen {

// `title` heads the table, e.g. "open loop, poisson 8 req/s".
std::string FormatSummary(absl::string_view title, const RunResult& result,
                          const std::optional<QualityResult>& quality);

// The quality pass: token agreement with the full-cache reference, the first
// divergence, and both sides' peak KV bytes.
std::string FormatQuality(const QualityResult& quality);

// One line per sweep point: the swept value, throughputs and latency p50/p99.
// `variable` is "rate" or "concurrency". REQUIRES: values.size() == results.size().
std::string FormatSweepTable(absl::string_view variable, const std::vector<double>& values,
                             const std::vector<RunResult>& results);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_SUMMARY_TABLE_H_
