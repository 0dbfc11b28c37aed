#include "tools/gqa_loadgen/arrival_schedule.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace gqa::loadgen {

absl::StatusOr<ArrivalKind> ParseArrivalKind(absl::string_view text) {
  if (text == "poisson") return ArrivalKind::kPoisson;
  if (text == "gamma") return ArrivalKind::kGamma;
  if (text == "constant") return ArrivalKind::kConstant;
  return absl::InvalidArgumentError(
      absl::StrCat("--arrival '", text, "': expected poisson, gamma or constant"));
}

absl::string_view ArrivalKindName(ArrivalKind kind) {
  switch (kind) {
    case ArrivalKind::kPoisson:
      return "poisson";
    case ArrivalKind::kGamma:
      return "gamma";
    case ArrivalKind::kConstant:
      return "constant";
  }
  return "poisson";
}

absl::StatusOr<ArrivalSchedule> ArrivalSchedule::Create(const ArrivalOptions& options) {
  if (!(options.rate_per_s > 0) || !std::isfinite(options.rate_per_s)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rate ", options.rate_per_s, ": expected a positive number of requests/s"));
  }
  if (!(options.gamma_shape > 0) || !std::isfinite(options.gamma_shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--burstiness ", options.gamma_shape, ": expected a positive gamma shape (1 = Poisson)"));
  }
  return ArrivalSchedule(options);
}

int64_t ArrivalSchedule::NextOffsetNs() {
  const double now_s = next_s_;
  const double mean_gap_s = 1.0 / options_.rate_per_s;
  double gap_s = mean_gap_s;
  switch (options_.kind) {
    case ArrivalKind::kPoisson:
      gap_s = mean_gap_s * rng_.Exponential();
      break;
    case ArrivalKind::kGamma:
      // Shape k, scale mean/k: mean gap 1/rate, CV 1/sqrt(k).
      gap_s = rng_.Gamma(options_.gamma_shape) * mean_gap_s / options_.gamma_shape;
      break;
    case ArrivalKind::kConstant:
      break;
  }
  next_s_ += gap_s;
  return static_cast<int64_t>(std::llround(now_s * 1e9));
}

}  // namespace gqa::loadgen
