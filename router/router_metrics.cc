#include "router/router_metrics.h"

#include <string>

namespace gqa {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::ClientMetric Gauge(std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

}  // namespace

std::vector<prometheus::MetricFamily> RouterStatsCollector::Collect() const {
  using prometheus::MetricType;
  prometheus::MetricFamily workers =
      Family("gqa_router_workers", "Workers in the router's pool, by state", MetricType::Gauge);
  prometheus::MetricFamily ready =
      Family("gqa_router_worker_ready", "1 when the router sends new sequences to this worker",
             MetricType::Gauge);
  int64_t num_ready = 0, num_draining = 0, num_down = 0, num_unavailable = 0;
  for (const std::shared_ptr<WorkerEndpoint>& endpoint : pool_->Endpoints()) {
    const WorkerState state = endpoint->state();
    if (state.ready) {
      ++num_ready;
    } else if (state.down) {
      ++num_down;
    } else if (state.draining) {
      ++num_draining;
    } else {
      ++num_unavailable;
    }
    ready.metric.push_back(Gauge({{"worker", endpoint->address()}}, state.ready ? 1 : 0));
  }
  for (auto [name, count] :
       {std::pair{"ready", num_ready}, std::pair{"draining", num_draining},
        std::pair{"down", num_down}, std::pair{"unavailable", num_unavailable}}) {
    workers.metric.push_back(Gauge({{"state", name}}, static_cast<double>(count)));
  }
  prometheus::MetricFamily in_flight = Family("gqa_router_in_flight_sequences",
                                              "Calls holding an admission slot", MetricType::Gauge);
  in_flight.metric.push_back(Gauge({}, static_cast<double>(admission_->in_flight())));
  prometheus::MetricFamily queued =
      Family("gqa_router_queued_calls", "Calls waiting for an admission slot", MetricType::Gauge);
  queued.metric.push_back(Gauge({}, static_cast<double>(admission_->queued())));
  return {workers, ready, in_flight, queued};
}

}  // namespace gqa
