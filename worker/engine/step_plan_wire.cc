#include "worker/engine/step_plan_wire.h"

#include <algorithm>

#include "core/status.h"

namespace gqa {
namespace {

// Unchanged entries between two runs cheaper to resend than a run header
// (two u64) costs: runs this close merge.
constexpr size_t kMergeGap = 4;

struct Run {
  size_t start = 0;
  size_t end = 0;  // exclusive
};

}  // namespace

void WriteVectorDelta(absl::Span<const int32_t> base, absl::Span<const int32_t> next,
                      PlanWriter& w) {
  std::vector<Run> runs;
  for (size_t i = 0; i < next.size(); ++i) {
    if (i < base.size() && base[i] == next[i]) continue;
    if (!runs.empty() && i - runs.back().end <= kMergeGap) {
      runs.back().end = i + 1;
    } else {
      runs.push_back({i, i + 1});
    }
  }
  w.Pod<uint64_t>(next.size());
  w.Pod<uint64_t>(runs.size());
  for (const Run& run : runs) {
    w.Pod<uint64_t>(run.start);
    w.Vector(next.subspan(run.start, run.end - run.start));
  }
}

absl::Status ReadVectorDelta(PlanReader& r, std::vector<int32_t>& vector) {
  uint64_t size = 0, num_runs = 0;
  RETURN_IF_ERROR(r.Pod(size));
  RETURN_IF_ERROR(r.Pod(num_runs));
  // Each run takes at least its two u64 header words.
  if (num_runs > r.remaining() / (2 * sizeof(uint64_t))) {
    return absl::InvalidArgumentError("step plan: message truncated");
  }
  // Runs come sorted and apart; every index in [old size, size) must be in
  // one. Checked before anything is applied, so a bogus length never
  // allocates and a bad delta leaves `vector` as it was.
  uint64_t covered_to = 0;                // end of the last run
  uint64_t first_unwritten = vector.size();  // first new index no run has covered yet
  std::vector<std::pair<uint64_t, std::vector<int32_t>>> runs(num_runs);
  for (auto& [start, values] : runs) {
    RETURN_IF_ERROR(r.Pod(start));
    RETURN_IF_ERROR(r.Vector(values));
    if (values.empty() || start < covered_to || start > size || values.size() > size - start) {
      return absl::InvalidArgumentError(
          "step plan: a delta run is empty, out of order or past the vector's length");
    }
    if (start > first_unwritten && first_unwritten < size) break;
    covered_to = start + values.size();
    first_unwritten = std::max(first_unwritten, covered_to);
  }
  if (first_unwritten < size) {
    return absl::InvalidArgumentError("step plan: a delta leaves new entries unwritten");
  }
  vector.resize(size);
  for (const auto& [start, run] : runs) std::copy(run.begin(), run.end(), vector.begin() + start);
  return absl::OkStatus();
}

}  // namespace gqa
