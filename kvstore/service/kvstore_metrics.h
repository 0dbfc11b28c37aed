// The kvstore's Prometheus series (gqa_kvstore_*), scraped from /metrics by
// prometheus-cpp's exposer. KvStoreMetrics is fed by the service: latency and
// status code per rpc, payload bytes moved, Put outcomes and checksum
// failures. StoreStatsCollector reads BlockStore::Stats() at scrape time, so
// occupancy per tier, hits, misses, evictions and corrupt records are the
// store's own counters, never a second copy of them. Both thread-safe.
#ifndef GQA_KVSTORE_SERVICE_KVSTORE_METRICS_H_
#define GQA_KVSTORE_SERVICE_KVSTORE_METRICS_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

enum class KvStoreRpc { kPut, kGet, kLookup, kDelete, kStats };
inline constexpr int kNumKvStoreRpcs = 5;

class KvStoreMetrics {
 public:
  // Registers the series in `registry`, which must outlive this.
  explicit KvStoreMetrics(prometheus::Registry& registry);

  // One finished call: gqa_kvstore_rpc_seconds{rpc} and
  // gqa_kvstore_rpcs_total{rpc,code}.
  void ObserveRpc(KvStoreRpc rpc, absl::StatusCode code, double seconds);
  // A block Put committed, with its payload size.
  void ObservePutBlock(PutOutcome outcome, int64_t payload_bytes);
  // Payload bytes Get sent, and whole blocks.
  void AddGetBytes(int64_t bytes) { get_bytes_.Increment(static_cast<double>(bytes)); }
  void AddGetBlock() { get_blocks_.Increment(); }
  // A Put block refused for its checksum (DATA_LOSS).
  void AddPutChecksumMismatch() { put_crc_mismatches_.Increment(); }
  // A block the store returned that failed the service's re-check (a store
  // bug or corruption after the store's own check); never sent.
  void AddGetChecksumMismatch() { get_crc_mismatches_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& rpcs_;
  std::array<prometheus::Histogram*, kNumKvStoreRpcs> latency_;
  prometheus::Counter& put_bytes_;
  prometheus::Family<prometheus::Counter>& put_blocks_;
  prometheus::Counter& put_stored_;
  prometheus::Counter& put_already_present_;
  prometheus::Counter& get_bytes_;
  prometheus::Counter& get_blocks_;
  prometheus::Counter& put_crc_mismatches_;
  prometheus::Counter& get_crc_mismatches_;
};

// gqa_kvstore_{capacity,stored}_bytes{tier}, gqa_kvstore_blocks{tier,kind},
// gqa_kvstore_{hits,evictions,corrupt_dropped}_total{tier},
// gqa_kvstore_misses_total and gqa_kvstore_expired_swap_blocks_total, from
// `store` (which must outlive this) at each scrape.
class StoreStatsCollector final : public prometheus::Collectable {
 public:
  explicit StoreStatsCollector(BlockStore* store) : store_(store) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  BlockStore* store_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_KVSTORE_METRICS_H_
