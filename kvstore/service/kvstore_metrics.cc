#include "kvstore/service/kvstore_metrics.h"

#include <string>

#include "absl/strings/ascii.h"

namespace gqa::kvstore {
namespace {

constexpr const char* kRpcNames[kNumKvStoreRpcs] = {"put", "get", "lookup", "delete", "stats"};

// Latency buckets in seconds, 100 us to 30 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10,    30};
}

const char* TierName(TierKind tier) {
  switch (tier) {
    case TierKind::kMemory: return "memory";
    case TierKind::kDisk: return "disk";
    case TierKind::kRedis: return "redis";
  }
  return "unknown";
}

prometheus::ClientMetric Sample(std::vector<prometheus::ClientMetric::Label> labels, double value,
                                prometheus::MetricType type) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

}  // namespace

KvStoreMetrics::KvStoreMetrics(prometheus::Registry& registry)
    : rpcs_(prometheus::BuildCounter()
                .Name("gqa_kvstore_rpcs_total")
                .Help("Finished kvstore calls by rpc and status code")
                .Register(registry)),
      put_bytes_(prometheus::BuildCounter()
                     .Name("gqa_kvstore_put_bytes_total")
                     .Help("Payload bytes of blocks Put committed")
                     .Register(registry)
                     .Add({})),
      put_blocks_(prometheus::BuildCounter()
                      .Name("gqa_kvstore_put_blocks_total")
                      .Help("Blocks Put committed, by outcome")
                      .Register(registry)),
      put_stored_(put_blocks_.Add({{"outcome", "stored"}})),
      put_already_present_(put_blocks_.Add({{"outcome", "already_present"}})),
      get_bytes_(prometheus::BuildCounter()
                     .Name("gqa_kvstore_get_bytes_total")
                     .Help("Payload bytes Get sent")
                     .Register(registry)
                     .Add({})),
      get_blocks_(prometheus::BuildCounter()
                      .Name("gqa_kvstore_get_blocks_total")
                      .Help("Blocks Get read from the store to send")
                      .Register(registry)
                      .Add({})),
      put_crc_mismatches_(prometheus::BuildCounter()
                              .Name("gqa_kvstore_put_checksum_mismatches_total")
                              .Help("Put blocks refused with DATA_LOSS: payload and crc32c differ")
                              .Register(registry)
                              .Add({})),
      get_crc_mismatches_(prometheus::BuildCounter()
                              .Name("gqa_kvstore_get_checksum_mismatches_total")
                              .Help("Blocks from the store that failed the service's re-check")
                              .Register(registry)
                              .Add({})) {
  auto& latency = prometheus::BuildHistogram()
                      .Name("gqa_kvstore_rpc_seconds")
                      .Help("Latency of kvstore calls, from arrival to status")
                      .Register(registry);
  for (int i = 0; i < kNumKvStoreRpcs; ++i) {
    latency_[i] = &latency.Add({{"rpc", kRpcNames[i]}}, LatencyBuckets());
  }
}

void KvStoreMetrics::ObserveRpc(KvStoreRpc rpc, absl::StatusCode code, double seconds) {
  const int index = static_cast<int>(rpc);
  latency_[index]->Observe(seconds);
  rpcs_.Add({{"rpc", kRpcNames[index]}, {"code", absl::StatusCodeToString(code)}}).Increment();
}

void KvStoreMetrics::ObservePutBlock(PutOutcome outcome, int64_t payload_bytes) {
  put_bytes_.Increment(static_cast<double>(payload_bytes));
  (outcome == PutOutcome::kStored ? put_stored_ : put_already_present_).Increment();
}

std::vector<prometheus::MetricFamily> StoreStatsCollector::Collect() const {
  using prometheus::MetricType;
  const StoreStats stats = store_->Stats();
  prometheus::MetricFamily capacity = Family(
      "gqa_kvstore_capacity_bytes", "Configured capacity of each tier", MetricType::Gauge);
  prometheus::MetricFamily stored = Family(
      "gqa_kvstore_stored_bytes", "Bytes stored in each tier, record overhead included",
      MetricType::Gauge);
  prometheus::MetricFamily blocks =
      Family("gqa_kvstore_blocks", "Blocks stored in each tier, by kind", MetricType::Gauge);
  prometheus::MetricFamily hits =
      Family("gqa_kvstore_hits_total", "Blocks Get served from each tier", MetricType::Counter);
  prometheus::MetricFamily evictions = Family(
      "gqa_kvstore_evictions_total", "Blocks each tier evicted for room", MetricType::Counter);
  prometheus::MetricFamily corrupt = Family(
      "gqa_kvstore_corrupt_dropped_total",
      "Records each tier dropped for a failed checksum or parse", MetricType::Counter);
  for (const TierStats& tier : stats.tiers) {
    const std::string name = TierName(tier.tier);
    capacity.metric.push_back(
        Sample({{"tier", name}}, static_cast<double>(tier.capacity_bytes), MetricType::Gauge));
    stored.metric.push_back(
        Sample({{"tier", name}}, static_cast<double>(tier.used_bytes), MetricType::Gauge));
    blocks.metric.push_back(Sample({{"kind", "prefix"}, {"tier", name}},
                                   static_cast<double>(tier.num_prefix_blocks), MetricType::Gauge));
    blocks.metric.push_back(Sample({{"kind", "swap"}, {"tier", name}},
                                   static_cast<double>(tier.num_swap_blocks), MetricType::Gauge));
    hits.metric.push_back(
        Sample({{"tier", name}}, static_cast<double>(tier.num_hits), MetricType::Counter));
    evictions.metric.push_back(
        Sample({{"tier", name}}, static_cast<double>(tier.num_evictions), MetricType::Counter));
    corrupt.metric.push_back(Sample({{"tier", name}},
                                    static_cast<double>(tier.num_corrupt_dropped),
                                    MetricType::Counter));
  }
  prometheus::MetricFamily misses = Family(
      "gqa_kvstore_misses_total", "Blocks Get asked for and found in no tier", MetricType::Counter);
  misses.metric.push_back(Sample({}, static_cast<double>(stats.num_misses), MetricType::Counter));
  prometheus::MetricFamily expired =
      Family("gqa_kvstore_expired_swap_blocks_total", "Swap blocks dropped when their TTL passed",
             MetricType::Counter);
  expired.metric.push_back(
      Sample({}, static_cast<double>(stats.num_expired_swap_blocks), MetricType::Counter));
  return {capacity, stored, blocks, hits, evictions, corrupt, misses, expired};
}

}  // namespace gqa::kvstore
