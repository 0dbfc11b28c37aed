// RunResult: the figures of one gqa-loadgen run, computed from its request
// records after the run: TTFT, TPOT, inter-token latency and end-to-end
// latency distributions, throughput, goodput under the SLO, errors by gRPC
// status, prompt/cached/output token totals and peak KV bytes from usage.
//
// NOTE(loadgen): latencies are measured from a request's scheduled send time
// (its sent time in closed loop), on the client's monotonic clock, so a
// client that falls behind its schedule shows up in the latencies instead of
// hiding (coordinated omission); send_lag_ms reports how far behind it fell.
// Latency figures cover successful requests only; warm-up requests count
// nowhere. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_RUN_RESULT_H_
#define GQA_TOOLS_GQA_LOADGEN_RUN_RESULT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/slo.h"
#include "tools/gqa_loadgen/stats.h"

namespace gqa::loadgen {

// One request's latencies, in milliseconds.
struct RequestMetrics {
  bool has_first_token = false;
  double ttft_ms = 0;             // scheduled send -> first token
  std::optional<double> tpot_ms;  // (last token - first token) / (tokens - 1); >= 2 tokens
  double e2e_ms = 0;              // scheduled send -> completion
  double send_lag_ms = 0;         // scheduled send -> actual send
  // One sample per output token after the first: a message's gap since the
  // previous message, split evenly over the tokens it carries (a coalesced
  // message of k tokens gives k samples of gap/k), so the samples sum to
  // last - first token time.
  std::vector<double> itl_ms;
};

RequestMetrics ComputeRequestMetrics(const RequestRecord& record);

struct RunResult {
  int64_t num_requests = 0;  // measured requests (warm-up excluded)
  int64_t num_ok = 0;
  int64_t num_errors = 0;
  int64_t num_warmup = 0;
  // From the first measured request's scheduled send to the last measured
  // completion, in seconds; throughputs divide by it.
  double duration_s = 0;
  double request_throughput_rps = 0;       // successful requests / duration
  double output_token_throughput_tps = 0;  // output tokens of all requests / duration
  double prompt_token_throughput_tps = 0;
  int64_t total_prompt_tokens = 0;
  int64_t total_cached_tokens = 0;
  int64_t total_output_tokens = 0;
  int64_t total_evicted_tokens = 0;
  Distribution ttft_ms;
  Distribution tpot_ms;
  Distribution itl_ms;
  Distribution e2e_ms;
  Distribution send_lag_ms;
  Distribution output_tokens;   // per successful request
  Distribution peak_kv_bytes;   // per successful request, from usage
  Slo slo;
  int64_t num_slo_met = 0;
  double goodput_rps = 0;       // requests meeting the SLO / duration
  double goodput_fraction = 0;  // of measured requests
  std::map<std::string, int64_t> errors;  // gRPC code name -> count
  // The harness's own CPU time over the run, and that divided by wall time.
  double client_cpu_s = 0;
  double client_cpu_cores = 0;
};

// REQUIRES: records of one run.
RunResult ComputeRunResult(absl::Span<const RequestRecord> records, const Slo& slo);

// "OK", "CANCELLED", ..., "UNAUTHENTICATED"; "CODE_<n>" outside 0..16.
std::string GrpcCodeName(int code);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_RUN_RESULT_H_
