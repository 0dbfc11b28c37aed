// The JSON results of gqa-loadgen (--json): the run's configuration and every
// figure of RunResult, named after the metric and then the statistic
// (ttft_ms.p50, tpot_ms.p99, e2e_ms.mean, request_throughput_rps, ...), plus
// `quality` with --quality. A sweep writes one such object per point under
// "points". Format: docs/loadgen.md. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_REPORT_JSON_H_
#define GQA_TOOLS_GQA_LOADGEN_REPORT_JSON_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tools/gqa_loadgen/quality.h"
#include "tools/gqa_loadgen/run_result.h"
#include "tools/gqa_loadgen/stats.h"

namespace gqa::loadgen {

inline constexpr char kResultSchema[] = "gqa-loadgen/1";

// {"count", "mean", "min", "p50", "p90", "p95", "p99", "max"}.
nlohmann::json DistributionToJson(const Distribution& d);

// One run's figures (no configuration), quality included when given.
nlohmann::json RunResultToJson(const RunResult& result, const std::optional<QualityResult>& quality);

// Writes `text` to `path` (replacing it). INVALID_ARGUMENT naming `flag` and
// the path when it cannot be written.
absl::Status WriteTextFile(absl::string_view flag, const std::string& path,
                           const std::string& text);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_REPORT_JSON_H_
