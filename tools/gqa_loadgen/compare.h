// `gqa-loadgen compare A.json B.json`: two result files side by side, metric
// by metric (throughput, goodput, latency percentiles, errors, cache, KV
// bytes, the harness's CPU, quality), with B's change relative to A. Sweeps
// are compared point by point. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_COMPARE_H_
#define GQA_TOOLS_GQA_LOADGEN_COMPARE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace gqa::loadgen {

// The table. INVALID_ARGUMENT when a document is not a gqa-loadgen result
// (no "schema" of ours), or one is a sweep and the other is not.
absl::StatusOr<std::string> CompareResults(const nlohmann::json& a, const std::string& a_name,
                                           const nlohmann::json& b, const std::string& b_name);

// Reads and compares two files; INVALID_ARGUMENT naming a file that cannot be
// read or parsed.
absl::StatusOr<std::string> CompareResultFiles(const std::string& a_path,
                                               const std::string& b_path);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_COMPARE_H_
