#include "tools/gqa_loadgen/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gqa::loadgen {

std::string FormatProgressLine(const LiveStats& s) {
  constexpr int kBarWidth = 20;
  double fraction = 0;
  std::string count;
  if (s.num_planned > 0) {
    fraction = static_cast<double>(s.num_done) / static_cast<double>(s.num_planned);
    count = absl::StrCat(s.num_done, "/", s.num_planned, " req");
  } else {
    fraction = s.planned_s > 0 ? s.elapsed_s / s.planned_s : 0;
    count = absl::StrFormat("%.0f/%.0f s, %d req", std::min(s.elapsed_s, s.planned_s),
                            s.planned_s, s.num_done);
  }
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar = absl::StrCat("[", std::string(filled, '#'),
                                 std::string(kBarWidth - filled, '.'), "]");
  return absl::StrFormat(
      "%s %3.0f%% %s  %.1f req/s  TTFT p50 %.1f ms  TPOT p50 %.2f ms  in flight %d  errors %d%s",
      bar, 100 * fraction, count, s.recent_rps, s.recent_ttft_p50_ms, s.recent_tpot_p50_ms,
      s.num_in_flight, s.num_errors, s.warming_up ? "  (warm-up)" : "");
}

ProgressPrinter::ProgressPrinter(std::function<LiveStats()> source, FILE* out,
                                 absl::Duration interval)
    : source_(std::move(source)), out_(out), interval_(interval) {
  thread_ = std::thread([this] {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), interval_)) break;
      Draw();
    }
  });
}

ProgressPrinter::~ProgressPrinter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  Draw();
  std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressPrinter::Draw() {
  // "\r" returns to the line's start; "\033[K" clears what a longer line left.
  std::fprintf(out_, "\r%s\033[K", FormatProgressLine(source_()).c_str());
  std::fflush(out_);
}

}  // namespace gqa::loadgen
