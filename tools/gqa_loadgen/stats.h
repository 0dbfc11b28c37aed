// Exact summary statistics of a sample (latencies, byte counts): mean, min,
// max and percentiles computed from every sample, sorted, with linear
// interpolation between the two closest ranks (NumPy's default, "type 7");
// no histogram or sketch approximates them. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_STATS_H_
#define GQA_TOOLS_GQA_LOADGEN_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace gqa::loadgen {

struct Distribution {
  int64_t count = 0;  // samples; every other field is 0 when there are none
  double mean = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

// The q-th percentile (q in [0, 100]) of `sorted` (ascending, non-empty):
// position q/100 * (n - 1), interpolated linearly.
double Percentile(absl::Span<const double> sorted, double q);

// Sorts `samples` and summarizes them.
Distribution Summarize(std::vector<double> samples);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_STATS_H_
