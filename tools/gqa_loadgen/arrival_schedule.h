// ArrivalSchedule: when each request of gqa-loadgen's open loop leaves,
// drawn from a seed before anything is sent, so that requests leave on
// schedule however slow the server is (no coordinated omission) and a run is
// reproducible. Poisson (exponential gaps), gamma (bursty: shape < 1 clumps
// arrivals at the same mean rate) or constant gaps. Thread-compatible.
#ifndef GQA_TOOLS_GQA_LOADGEN_ARRIVAL_SCHEDULE_H_
#define GQA_TOOLS_GQA_LOADGEN_ARRIVAL_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/gqa_loadgen/random.h"

namespace gqa::loadgen {

enum class ArrivalKind { kPoisson, kGamma, kConstant };

struct ArrivalOptions {
  ArrivalKind kind = ArrivalKind::kPoisson;
  // Mean arrivals per second, > 0.
  double rate_per_s = 1.0;
  // Gamma only: the shape k of the gap distribution, > 0. The gaps' coefficient
  // of variation is 1/sqrt(k): k = 1 is Poisson, k < 1 burstier. Default 1.
  double gamma_shape = 1.0;
  uint64_t seed = 0;
};

// "poisson", "gamma", "constant" <-> ArrivalKind. INVALID_ARGUMENT naming
// --arrival otherwise.
absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view text);
absl::string_view ArrivalKindName(ArrivalKind kind);

class ArrivalSchedule {
 public:
  // INVALID_ARGUMENT for a rate or shape that is not a positive finite number.
  static absl::StatusOr<ArrivalSchedule> Create(const ArrivalOptions& options);

  // The next request's send time, in nanoseconds after the run's start;
  // nondecreasing. The first request leaves at 0.
  int64_t NextOffsetNs();

 private:
  explicit ArrivalSchedule(const ArrivalOptions& options)
      : options_(options), rng_(options.seed, /*stream=*/0x4172726976616c) {}

  ArrivalOptions options_;
  Rng rng_;
  double next_s_ = 0.0;
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_ARRIVAL_SCHEDULE_H_
