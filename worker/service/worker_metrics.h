// WorkerMetrics: the worker's Prometheus series (gqa_worker_*), updated by
// the engine loop (steps, gauges) and the Submit streams (per-request
// latencies and outcomes), scraped from /metrics by prometheus-cpp's
// exposer. Thread-safe (prometheus-cpp metrics are).
#ifndef GQA_WORKER_SERVICE_WORKER_METRICS_H_
#define GQA_WORKER_SERVICE_WORKER_METRICS_H_

#include <cstdint>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "worker/scheduler/engine_request.h"
#include "worker/scheduler/scheduler.h"

namespace gqa {

class WorkerMetrics {
 public:
  // Registers every series in `registry`, which must outlive this.
  // `kv_bytes_per_token`: allocated KV bytes per token held (scales included).
  WorkerMetrics(prometheus::Registry& registry, double kv_bytes_per_token);

  void ObserveStep(const StepReport& report);
  // Gauges, and the swap counters' growth since the last call (one caller:
  // the engine thread).
  void SetStats(const SchedulerStats& stats);
  void ObserveFirstToken(double seconds) { ttft_.Observe(seconds); }
  void ObserveInterToken(double seconds) { itl_.Observe(seconds); }
  void ObserveFinish(const SequenceSummary& summary);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& itl_;
  prometheus::Histogram& step_;
  prometheus::Counter& step_tokens_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& kv_blocks_used_;
  prometheus::Gauge& kv_blocks_free_;
  prometheus::Counter& preemptions_;
  prometheus::Counter& evicted_tokens_;
  prometheus::Family<prometheus::Counter>& swaps_;
  SchedulerStats last_swaps_;  // swap totals already counted
  prometheus::Gauge& kv_bytes_per_token_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_WORKER_METRICS_H_
