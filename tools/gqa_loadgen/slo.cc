#include "tools/gqa_loadgen/slo.h"

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace gqa::loadgen {
namespace {

absl::StatusOr<double> ParseMs(absl::string_view item, absl::string_view value) {
  double scale = 0;
  absl::string_view number = value;
  if (absl::ConsumeSuffix(&number, "us")) {
    scale = 1e-3;
  } else if (absl::ConsumeSuffix(&number, "ms")) {
    scale = 1.0;
  } else if (absl::ConsumeSuffix(&number, "s")) {
    scale = 1e3;
  }
  double parsed = 0;
  if (scale == 0 || !absl::SimpleAtod(number, &parsed) || !(parsed > 0) || !std::isfinite(parsed)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--slo '", item, "': expected a positive duration with a unit (us, ms, s), e.g. 500ms"));
  }
  return parsed * scale;
}

}  // namespace

absl::StatusOr<Slo> ParseSlo(absl::string_view text) {
  Slo slo;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--slo '", item, "': expected KEY=DURATION with KEY ttft, tpot or e2e, e.g. ttft=500ms"));
    }
    absl::StatusOr<double> ms = ParseMs(item, kv[1]);
    if (!ms.ok()) return ms.status();
    std::optional<double>* target = kv[0] == "ttft"   ? &slo.ttft_ms
                                    : kv[0] == "tpot" ? &slo.tpot_ms
                                    : kv[0] == "e2e"  ? &slo.e2e_ms
                                                      : nullptr;
    if (target == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--slo '", item, "': unknown key '", kv[0], "'; use ttft, tpot or e2e"));
    }
    if (target->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("--slo: '", kv[0], "' given twice"));
    }
    *target = *ms;
  }
  return slo;
}

std::string Slo::ToString() const {
  std::vector<std::string> parts;
  if (ttft_ms) parts.push_back(absl::StrCat("ttft=", *ttft_ms, "ms"));
  if (tpot_ms) parts.push_back(absl::StrCat("tpot=", *tpot_ms, "ms"));
  if (e2e_ms) parts.push_back(absl::StrCat("e2e=", *e2e_ms, "ms"));
  return absl::StrJoin(parts, ",");
}

bool MeetsSlo(const Slo& slo, double ttft_ms, std::optional<double> tpot_ms, double e2e_ms) {
  if (slo.ttft_ms && ttft_ms > *slo.ttft_ms) return false;
  if (slo.tpot_ms && tpot_ms.has_value() && *tpot_ms > *slo.tpot_ms) return false;
  if (slo.e2e_ms && e2e_ms > *slo.e2e_ms) return false;
  return true;
}

}  // namespace gqa::loadgen
