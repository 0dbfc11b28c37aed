#include "tools/gqa_loadgen/report_json.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace gqa::loadgen {

nlohmann::json DistributionToJson(const Distribution& d) {
  return nlohmann::json{{"count", d.count}, {"mean", d.mean}, {"min", d.min}, {"p50", d.p50},
                        {"p90", d.p90},     {"p95", d.p95},   {"p99", d.p99}, {"max", d.max}};
}

nlohmann::json RunResultToJson(const RunResult& r, const std::optional<QualityResult>& quality) {
  nlohmann::json j;
  j["num_requests"] = r.num_requests;
  j["num_ok"] = r.num_ok;
  j["num_errors"] = r.num_errors;
  j["num_warmup"] = r.num_warmup;
  j["duration_s"] = r.duration_s;
  j["request_throughput_rps"] = r.request_throughput_rps;
  j["output_token_throughput_tps"] = r.output_token_throughput_tps;
  j["prompt_token_throughput_tps"] = r.prompt_token_throughput_tps;
  j["ttft_ms"] = DistributionToJson(r.ttft_ms);
  j["tpot_ms"] = DistributionToJson(r.tpot_ms);
  j["itl_ms"] = DistributionToJson(r.itl_ms);
  j["e2e_ms"] = DistributionToJson(r.e2e_ms);
  j["send_lag_ms"] = DistributionToJson(r.send_lag_ms);
  j["output_tokens"] = DistributionToJson(r.output_tokens);
  j["peak_kv_bytes"] = DistributionToJson(r.peak_kv_bytes);
  j["tokens"] = {{"prompt", r.total_prompt_tokens},
                 {"cached_prompt", r.total_cached_tokens},
                 {"cached_fraction", r.total_prompt_tokens > 0
                                         ? static_cast<double>(r.total_cached_tokens) /
                                               static_cast<double>(r.total_prompt_tokens)
                                         : 0.0},
                 {"output", r.total_output_tokens},
                 {"evicted", r.total_evicted_tokens}};
  nlohmann::json slo = nlohmann::json::object();
  if (r.slo.ttft_ms) slo["ttft_ms"] = *r.slo.ttft_ms;
  if (r.slo.tpot_ms) slo["tpot_ms"] = *r.slo.tpot_ms;
  if (r.slo.e2e_ms) slo["e2e_ms"] = *r.slo.e2e_ms;
  j["goodput"] = {{"slo", slo},
                  {"num_met", r.num_slo_met},
                  {"requests_per_s", r.goodput_rps},
                  {"fraction", r.goodput_fraction}};
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : r.errors) errors[code] = count;
  j["errors"] = errors;
  j["client_cpu"] = {{"seconds", r.client_cpu_s}, {"cores", r.client_cpu_cores}};
  if (quality.has_value()) {
    const QualityResult& q = *quality;
    j["quality"] = {{"kv_policy", q.kv_policy},
                    {"kv_dtype", q.kv_dtype},
                    {"reference", absl::StrCat("full/", q.reference_kv_dtype)},
                    {"num_prompts", q.num_prompts},
                    {"num_errors", q.num_errors},
                    {"num_identical", q.num_identical},
                    {"token_agreement", DistributionToJson(q.agreement)},
                    {"first_divergence", DistributionToJson(q.first_divergence)},
                    {"reference_peak_kv_bytes", DistributionToJson(q.reference_peak_kv_bytes)},
                    {"test_peak_kv_bytes", DistributionToJson(q.test_peak_kv_bytes)}};
  }
  return j;
}

absl::Status WriteTextFile(absl::string_view flag, const std::string& path,
                           const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", path, ": cannot write"));
  }
  return absl::OkStatus();
}

}  // namespace gqa::loadgen
