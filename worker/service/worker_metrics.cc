#include "worker/service/worker_metrics.h"

namespace gqa {
namespace {

absl::string_view OutcomeName(EngineFinish finish) {
  switch (finish) {
    case EngineFinish::kLength: return "length";
    case EngineFinish::kStopToken: return "stop_token";
    case EngineFinish::kEos: return "eos";
    case EngineFinish::kCancelled: return "cancelled";
    case EngineFinish::kDeadline: return "deadline";
    case EngineFinish::kError: return "error";
  }
  return "error";
}

// Latency buckets in seconds, 1 ms to 60 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry, double kv_bytes_per_token)
    : requests_(prometheus::BuildCounter()
                    .Name("gqa_worker_requests_total")
                    .Help("Finished Submit requests by outcome")
                    .Register(registry)),
      ttft_(prometheus::BuildHistogram()
                .Name("gqa_worker_time_to_first_token_seconds")
                .Help("From Submit to the first token")
                .Register(registry)
                .Add({}, LatencyBuckets())),
      itl_(prometheus::BuildHistogram()
               .Name("gqa_worker_inter_token_latency_seconds")
               .Help("Between consecutive tokens of a sequence")
               .Register(registry)
               .Add({}, LatencyBuckets())),
      step_(prometheus::BuildHistogram()
                .Name("gqa_worker_step_seconds")
                .Help("Forward pass of one scheduler step")
                .Register(registry)
                .Add({}, LatencyBuckets())),
      step_tokens_(prometheus::BuildCounter()
                       .Name("gqa_worker_step_tokens_total")
                       .Help("Tokens computed by forward steps (prefill and decode)")
                       .Register(registry)
                       .Add({})),
      running_(prometheus::BuildGauge()
                   .Name("gqa_worker_running_sequences")
                   .Help("Sequences in the running batch")
                   .Register(registry)
                   .Add({})),
      waiting_(prometheus::BuildGauge()
                   .Name("gqa_worker_waiting_sequences")
                   .Help("Sequences waiting for admission")
                   .Register(registry)
                   .Add({})),
      kv_blocks_used_(prometheus::BuildGauge()
                          .Name("gqa_worker_kv_blocks_used")
                          .Help("KV blocks owned by sequences")
                          .Register(registry)
                          .Add({})),
      kv_blocks_free_(prometheus::BuildGauge()
                          .Name("gqa_worker_kv_blocks_free")
                          .Help("KV blocks free (cached prefix blocks included)")
                          .Register(registry)
                          .Add({})),
      preemptions_(prometheus::BuildCounter()
                       .Name("gqa_worker_preemptions_total")
                       .Help("Sequences preempted because KV blocks ran out")
                       .Register(registry)
                       .Add({})),
      evicted_tokens_(prometheus::BuildCounter()
                          .Name("gqa_worker_evicted_tokens_total")
                          .Help("Tokens dropped by bounded KV policies")
                          .Register(registry)
                          .Add({})),
      swaps_(prometheus::BuildCounter()
                 .Name("gqa_worker_swaps_total")
                 .Help("Preempted sequences swapped to the kvstore (direction=out), restored "
                       "from it (in), or recomputed because the swap was lost (fallback)")
                 .Register(registry)),
      kv_bytes_per_token_(prometheus::BuildGauge()
                              .Name("gqa_worker_kv_bytes_per_token")
                              .Help("Allocated KV bytes per token held, FP8 scales included")
                              .Register(registry)
                              .Add({})) {
  kv_bytes_per_token_.Set(kv_bytes_per_token);
}

void WorkerMetrics::ObserveStep(const StepReport& report) {
  if (report.num_tokens == 0) return;
  step_.Observe(report.forward_ns * 1e-9);
  step_tokens_.Increment(static_cast<double>(report.num_tokens));
}

void WorkerMetrics::SetStats(const SchedulerStats& stats) {
  running_.Set(static_cast<double>(stats.running));
  waiting_.Set(static_cast<double>(stats.waiting));
  kv_blocks_used_.Set(static_cast<double>(stats.kv_blocks_used));
  kv_blocks_free_.Set(static_cast<double>(stats.kv_blocks_free));
  const auto count = [&](const char* direction, int64_t now, int64_t& before) {
    if (now > before) swaps_.Add({{"direction", direction}}).Increment(static_cast<double>(now - before));
    before = now;
  };
  count("out", stats.swap_outs_total, last_swaps_.swap_outs_total);
  count("in", stats.swap_ins_total, last_swaps_.swap_ins_total);
  count("fallback", stats.swap_fallbacks_total, last_swaps_.swap_fallbacks_total);
}

void WorkerMetrics::ObserveFinish(const SequenceSummary& summary) {
  requests_.Add({{"outcome", std::string(OutcomeName(summary.finish))}}).Increment();
  preemptions_.Increment(static_cast<double>(summary.preemptions));
  evicted_tokens_.Increment(static_cast<double>(summary.evicted_tokens));
}

}  // namespace gqa
