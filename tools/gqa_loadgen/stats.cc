#include "tools/gqa_loadgen/stats.h"

#include <algorithm>
#include <cmath>

namespace gqa::loadgen {

double Percentile(absl::Span<const double> sorted, double q) {
  if (sorted.empty()) return 0;
  const double position = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lower = static_cast<size_t>(std::floor(position));
  const size_t upper = std::min(lower + 1, sorted.size() - 1);
  const double weight = position - static_cast<double>(lower);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * weight;
}

Distribution Summarize(std::vector<double> samples) {
  Distribution d;
  if (samples.empty()) return d;
  std::sort(samples.begin(), samples.end());
  d.count = static_cast<int64_t>(samples.size());
  double sum = 0;
  for (double s : samples) sum += s;
  d.mean = sum / static_cast<double>(samples.size());
  d.min = samples.front();
  d.max = samples.back();
  d.p50 = Percentile(samples, 50);
  d.p90 = Percentile(samples, 90);
  d.p95 = Percentile(samples, 95);
  d.p99 = Percentile(samples, 99);
  return d;
}

}  // namespace gqa::loadgen
