#include "tools/gqa_loadgen/request_csv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/gqa_loadgen/run_result.h"

namespace gqa::loadgen {
namespace {

std::string Ms(int64_t ns) { return absl::StrFormat("%.3f", static_cast<double>(ns) / 1e6); }

}  // namespace

std::string RecordsToCsv(absl::Span<const RequestRecord> records, const Slo& slo) {
  std::string out = absl::StrCat(kCsvHeader, "\n");
  for (const RequestRecord& r : records) {
    const RequestMetrics m = ComputeRequestMetrics(r);
    const bool met =
        r.ok() && m.has_first_token && MeetsSlo(slo, m.ttft_ms, m.tpot_ms, m.e2e_ms);
    absl::StrAppend(&out, r.index, ",", r.warmup ? 1 : 0, ",", Ms(r.scheduled_ns), ",",
                    Ms(r.sent_ns), ",", r.chunks.empty() ? "" : Ms(r.chunks.front().arrival_ns),
                    ",", Ms(r.end_ns), ",",
                    m.has_first_token ? absl::StrFormat("%.3f", m.ttft_ms) : "", ",",
                    m.tpot_ms ? absl::StrFormat("%.3f", *m.tpot_ms) : "", ",",
                    absl::StrFormat("%.3f", m.e2e_ms), ",", r.num_prompt_tokens, ",",
                    r.num_cached_tokens, ",", r.num_output_tokens, ",", r.peak_kv_bytes, ",",
                    r.prefix_group, ",", GrpcCodeName(r.status_code), ",", r.finish_reason, ",",
                    met ? 1 : 0, "\n");
  }
  return out;
}

}  // namespace gqa::loadgen
