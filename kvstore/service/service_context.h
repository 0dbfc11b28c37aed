// What every KvStoreService call reads: the store, the executor that runs
// store calls off gRPC's threads (and whether a memory-only store's calls
// run inline instead), the limits, the metrics and the tracker of
// calls in flight; plus the one place a call's status and latency are
// recorded. Internal to
// kvstore/service/ (the Put and Get reactors and the service). The pointees
// outlive every call; thread-safe.
#ifndef GQA_KVSTORE_SERVICE_SERVICE_CONTEXT_H_
#define GQA_KVSTORE_SERVICE_SERVICE_CONTEXT_H_

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kvstore/service/block_convert.h"
#include "kvstore/service/call_tracker.h"
#include "kvstore/service/kvstore_metrics.h"
#include "kvstore/service/store_executor.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

struct ServiceContext {
  BlockStore* store = nullptr;
  StoreExecutor* executor = nullptr;
  KvStoreLimits limits;
  KvStoreMetrics* metrics = nullptr;  // nullptr: no metrics
  CallTracker* calls = nullptr;       // every reactor calls End() in OnDone
  // Put and Get store calls run inline on the gRPC callback thread instead
  // of the executor: only for a memory-only store (BlockStoreTraits).
  bool inline_store_calls = false;
  // The store verifies what Get returns, so the Get stream does not re-check
  // the payload's checksum (BlockStoreTraits::get_verifies_payload).
  bool store_verifies_get = false;

  void ObserveRpc(KvStoreRpc rpc, absl::Time start, const absl::Status& status) const {
    if (metrics != nullptr) {
      metrics->ObserveRpc(rpc, status.code(), absl::ToDoubleSeconds(absl::Now() - start));
    }
  }
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_SERVICE_CONTEXT_H_
