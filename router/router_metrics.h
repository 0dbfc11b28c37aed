// RouterStatsCollector: the router's Prometheus series (gqa_router_*), read at
// scrape time from the worker pool and the admission limits themselves, so
// they are those objects' own state, never a second copy: workers by state,
// each worker's readiness, sequences running and calls queued. Registered by
// gqa-router's --metrics-port exposer. Thread-safe (both sources are).
#ifndef GQA_ROUTER_ROUTER_METRICS_H_
#define GQA_ROUTER_ROUTER_METRICS_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "router/admission.h"
#include "router/worker_pool.h"

namespace gqa {

// gqa_router_workers{state="ready|draining|down|unavailable"},
// gqa_router_worker_ready{worker="host:port"}, gqa_router_in_flight_sequences,
// gqa_router_queued_calls. "unavailable": neither ready, draining nor down
// (not polled yet, or refused: another model's fingerprint).
class RouterStatsCollector : public prometheus::Collectable {
 public:
  // `pool` and `admission` must outlive the collector.
  RouterStatsCollector(const WorkerPool* pool, const Admission* admission)
      : pool_(pool), admission_(admission) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const WorkerPool* pool_;
  const Admission* admission_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_ROUTER_METRICS_H_
