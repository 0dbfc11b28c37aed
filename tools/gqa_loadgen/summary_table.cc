#include "tools/gqa_loadgen/summary_table.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/gqa/command_line.h"

namespace gqa::loadgen {
namespace {

std::string Row(absl::string_view name, const Distribution& d) {
  if (d.count == 0) return absl::StrFormat("  %-10s %9s\n", name, "-");
  return absl::StrFormat("  %-10s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, d.mean,
                         d.min, d.p50, d.p90, d.p95, d.p99, d.max);
}

}  // namespace

std::string FormatSummary(absl::string_view title, const RunResult& r,
                          const std::optional<QualityResult>& quality) {
  std::string out = absl::StrCat("== gqa-loadgen: ", title, " ==\n");
  absl::StrAppendFormat(&out, "requests     %d measured (%d ok, %d errors), %d warm-up\n",
                        r.num_requests, r.num_ok, r.num_errors, r.num_warmup);
  absl::StrAppendFormat(&out, "duration     %.2f s\n", r.duration_s);
  absl::StrAppendFormat(&out, "throughput   %.2f req/s, %.1f output tok/s, %.1f prompt tok/s\n",
                        r.request_throughput_rps, r.output_token_throughput_tps,
                        r.prompt_token_throughput_tps);
  if (!r.slo.empty()) {
    absl::StrAppendFormat(&out, "goodput      %.2f req/s: %d of %d requests (%.1f%%) met %s\n",
                          r.goodput_rps, r.num_slo_met, r.num_requests,
                          100.0 * r.goodput_fraction, r.slo.ToString());
  }
  absl::StrAppendFormat(&out, "  %-10s %9s %9s %9s %9s %9s %9s %9s\n", "(ms)", "mean", "min",
                        "p50", "p90", "p95", "p99", "max");
  out += Row("TTFT", r.ttft_ms);
  out += Row("TPOT", r.tpot_ms);
  out += Row("ITL", r.itl_ms);
  out += Row("E2E", r.e2e_ms);
  out += Row("send lag", r.send_lag_ms);
  const double cached_pct = r.total_prompt_tokens > 0
                                ? 100.0 * static_cast<double>(r.total_cached_tokens) /
                                      static_cast<double>(r.total_prompt_tokens)
                                : 0.0;
  absl::StrAppendFormat(&out,
                        "tokens       prompt %d (cached prefix %d, %.1f%%), output %d, evicted %d\n",
                        r.total_prompt_tokens, r.total_cached_tokens, cached_pct,
                        r.total_output_tokens, r.total_evicted_tokens);
  if (r.peak_kv_bytes.count > 0 && r.peak_kv_bytes.max > 0) {
    absl::StrAppend(&out, "peak KV      mean ",
                    FormatBytes(static_cast<int64_t>(r.peak_kv_bytes.mean)), ", p99 ",
                    FormatBytes(static_cast<int64_t>(r.peak_kv_bytes.p99)), ", max ",
                    FormatBytes(static_cast<int64_t>(r.peak_kv_bytes.max)), " per request\n");
  }
  if (!r.errors.empty()) {
    out += "errors      ";
    for (const auto& [code, count] : r.errors) absl::StrAppend(&out, " ", code, "=", count);
    out += "\n";
  }
  absl::StrAppendFormat(&out, "client CPU   %.2f s (%.2f cores on average)\n", r.client_cpu_s,
                        r.client_cpu_cores);
  if (quality.has_value()) out += FormatQuality(*quality);
  return out;
}

std::string FormatQuality(const QualityResult& q) {
  std::string out = absl::StrFormat(
      "quality      %s/%s vs full/%s over %d prompts (%d failed): token agreement mean %.4f, "
      "min %.4f; %d identical",
      q.kv_policy, q.kv_dtype, q.reference_kv_dtype, q.num_prompts, q.num_errors,
      q.agreement.mean, q.agreement.min, q.num_identical);
  if (q.first_divergence.count > 0) {
    absl::StrAppendFormat(&out, "; first divergence at token p50 %.0f, min %.0f",
                          q.first_divergence.p50, q.first_divergence.min);
  }
  absl::StrAppend(&out, "\n             peak KV per request (mean): reference ",
                  FormatBytes(static_cast<int64_t>(q.reference_peak_kv_bytes.mean)), ", tested ",
                  FormatBytes(static_cast<int64_t>(q.test_peak_kv_bytes.mean)), "\n");
  return out;
}

std::string FormatSweepTable(absl::string_view variable, const std::vector<double>& values,
                             const std::vector<RunResult>& results) {
  std::string out = absl::StrFormat(
      "%-12s %8s %8s %10s %9s %9s %9s %9s %9s %9s %6s\n", variable, "ok", "req/s", "out tok/s",
      "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "E2E p50", "E2E p99", "errors");
  for (size_t i = 0; i < values.size() && i < results.size(); ++i) {
    const RunResult& r = results[i];
    absl::StrAppendFormat(&out, "%-12g %8d %8.2f %10.1f %9.1f %9.1f %9.2f %9.2f %9.1f %9.1f %6d\n",
                          values[i], r.num_ok, r.request_throughput_rps,
                          r.output_token_throughput_tps, r.ttft_ms.p50, r.ttft_ms.p99,
                          r.tpot_ms.p50, r.tpot_ms.p99, r.e2e_ms.p50, r.e2e_ms.p99, r.num_errors);
  }
  return out;
}

}  // namespace gqa::loadgen
