// Service-level objectives for goodput: --slo ttft=500ms,tpot=50ms,e2e=10s.
// A request counts toward goodput when it succeeded and met every bound
// given (DistServe's definition). Pure values; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_SLO_H_
#define GQA_TOOLS_GQA_LOADGEN_SLO_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa::loadgen {

struct Slo {
  std::optional<double> ttft_ms;  // time to first token
  std::optional<double> tpot_ms;  // time per output token after the first
  std::optional<double> e2e_ms;   // whole request

  bool empty() const { return !ttft_ms && !tpot_ms && !e2e_ms; }
  std::string ToString() const;
};

// Parses "KEY=VALUE[,KEY=VALUE...]" with KEY in ttft, tpot, e2e and VALUE a
// positive number with unit us, ms or s ("500ms", "0.5s"). INVALID_ARGUMENT
// naming --slo otherwise.
absl::StatusOr<Slo> ParseSlo(absl::string_view text);

// Whether a request with these figures meets every bound. A request with one
// output token has no TPOT and meets a TPOT bound.
bool MeetsSlo(const Slo& slo, double ttft_ms, std::optional<double> tpot_ms, double e2e_ms);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_SLO_H_
