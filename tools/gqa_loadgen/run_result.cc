#include "tools/gqa_loadgen/run_result.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace gqa::loadgen {
namespace {

constexpr double kNsPerMs = 1e6;

}  // namespace

std::string GrpcCodeName(int code) {
  static constexpr absl::string_view kNames[] = {
      "OK",        "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",  "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return std::string(kNames[code]);
  return absl::StrCat("CODE_", code);
}

RequestMetrics ComputeRequestMetrics(const RequestRecord& record) {
  RequestMetrics m;
  m.send_lag_ms = static_cast<double>(record.sent_ns - record.scheduled_ns) / kNsPerMs;
  m.e2e_ms = static_cast<double>(record.end_ns - record.scheduled_ns) / kNsPerMs;
  if (record.chunks.empty()) return m;
  m.has_first_token = true;
  const TokenChunk& first = record.chunks.front();
  const TokenChunk& last = record.chunks.back();
  m.ttft_ms = static_cast<double>(first.arrival_ns - record.scheduled_ns) / kNsPerMs;
  int64_t tokens = 0;
  for (const TokenChunk& chunk : record.chunks) tokens += chunk.num_tokens;
  if (tokens >= 2) {
    m.tpot_ms = static_cast<double>(last.arrival_ns - first.arrival_ns) / kNsPerMs /
                static_cast<double>(tokens - 1);
  }
  // The first message's extra tokens arrived with the first token: gap 0.
  for (int32_t i = 1; i < first.num_tokens; ++i) m.itl_ms.push_back(0.0);
  for (size_t c = 1; c < record.chunks.size(); ++c) {
    const TokenChunk& chunk = record.chunks[c];
    const double gap =
        static_cast<double>(chunk.arrival_ns - record.chunks[c - 1].arrival_ns) / kNsPerMs;
    for (int32_t i = 0; i < chunk.num_tokens; ++i) {
      m.itl_ms.push_back(gap / chunk.num_tokens);
    }
  }
  return m;
}

RunResult ComputeRunResult(absl::Span<const RequestRecord> records, const Slo& slo) {
  RunResult r;
  r.slo = slo;
  std::vector<double> ttft, tpot, itl, e2e, lag, out_tokens, kv;
  int64_t start_ns = std::numeric_limits<int64_t>::max();
  int64_t end_ns = std::numeric_limits<int64_t>::min();
  for (const RequestRecord& record : records) {
    if (record.warmup) {
      ++r.num_warmup;
      continue;
    }
    ++r.num_requests;
    start_ns = std::min(start_ns, record.scheduled_ns);
    end_ns = std::max(end_ns, record.end_ns);
    const RequestMetrics m = ComputeRequestMetrics(record);
    lag.push_back(m.send_lag_ms);
    r.total_output_tokens += record.num_output_tokens;
    if (!record.ok()) {
      ++r.num_errors;
      ++r.errors[GrpcCodeName(record.status_code)];
      continue;
    }
    ++r.num_ok;
    r.total_prompt_tokens += record.num_prompt_tokens;
    r.total_cached_tokens += record.num_cached_tokens;
    r.total_evicted_tokens += record.num_evicted_tokens;
    out_tokens.push_back(static_cast<double>(record.num_output_tokens));
    kv.push_back(static_cast<double>(record.peak_kv_bytes));
    e2e.push_back(m.e2e_ms);
    if (m.has_first_token) ttft.push_back(m.ttft_ms);
    if (m.tpot_ms.has_value()) tpot.push_back(*m.tpot_ms);
    itl.insert(itl.end(), m.itl_ms.begin(), m.itl_ms.end());
    if (m.has_first_token && MeetsSlo(slo, m.ttft_ms, m.tpot_ms, m.e2e_ms)) ++r.num_slo_met;
  }
  if (r.num_requests > 0 && end_ns > start_ns) {
    r.duration_s = static_cast<double>(end_ns - start_ns) / 1e9;
    r.request_throughput_rps = static_cast<double>(r.num_ok) / r.duration_s;
    r.output_token_throughput_tps = static_cast<double>(r.total_output_tokens) / r.duration_s;
    r.prompt_token_throughput_tps = static_cast<double>(r.total_prompt_tokens) / r.duration_s;
    r.goodput_rps = static_cast<double>(r.num_slo_met) / r.duration_s;
  }
  if (r.num_requests > 0) {
    r.goodput_fraction = static_cast<double>(r.num_slo_met) / static_cast<double>(r.num_requests);
  }
  r.ttft_ms = Summarize(std::move(ttft));
  r.tpot_ms = Summarize(std::move(tpot));
  r.itl_ms = Summarize(std::move(itl));
  r.e2e_ms = Summarize(std::move(e2e));
  r.send_lag_ms = Summarize(std::move(lag));
  r.output_tokens = Summarize(std::move(out_tokens));
  r.peak_kv_bytes = Summarize(std::move(kv));
  return r;
}

}  // namespace gqa::loadgen
