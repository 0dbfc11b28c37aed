// KvStoreSwapTier: the SwapTier of a gqa-kvstore (gqa-worker --kvstore).
// A preempted sequence's blocks are stored as swap blocks keyed (tenant,
// "<worker instance>/<swap key>", block index, this rank's KV heads, the
// cache dtype), so they are bit-identical when they come back and no other
// worker or sequence can collide with them; they expire after swap_ttl_ms
// unless deleted. One background thread runs every store, load and delete in
// the order they were asked for. Thread-safe.
#ifndef GQA_WORKER_SERVICE_KVSTORE_SWAP_TIER_H_
#define GQA_WORKER_SERVICE_KVSTORE_SWAP_TIER_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/dtype.h"
#include "kvstore/service/kvstore_client.h"
#include "worker/service/kvstore_block_geometry.h"
#include "worker/scheduler/swap_tier.h"

namespace gqa {

struct KvStoreSwapTierOptions {
  KvStoreBlockGeometry geometry;
  // How long the store keeps a swapped sequence nobody deletes, in ms
  // (within the store's --max-swap-ttl-ms). Default 10 minutes.
  int64_t swap_ttl_ms = 600000;
  // Prefix of every swap key: unique per worker process. Empty: a random one.
  std::string instance_id;
};

class KvStoreSwapTier final : public SwapTier {
 public:
  KvStoreSwapTier(std::unique_ptr<kvstore::KvStoreClient> client, KvStoreSwapTierOptions options);
  // Finishes nothing that is queued: stops the thread after the current call.
  ~KvStoreSwapTier() override;

  void Store(const std::string& tenant, const std::string& swap_key,
             std::vector<std::string> payloads) override;
  void Load(const std::string& tenant, const std::string& swap_key, int64_t num_blocks) override;
  std::optional<absl::StatusOr<std::vector<std::string>>> TakeLoaded(
      const std::string& swap_key) override;
  void Discard(const std::string& tenant, const std::string& swap_key) override;
  void SetOnLoaded(std::function<void()> on_loaded) override;

  // Blocks stored and failed stores since start (for tests and metrics).
  int64_t num_stored_blocks() const;
  int64_t num_failed_stores() const;

 private:
  struct Operation {
    enum class Kind { kStore, kLoad, kDiscard } kind = Kind::kStore;
    std::string tenant;
    std::string swap_key;
    std::vector<std::string> payloads;  // kStore
    int64_t num_blocks = 0;             // kLoad
  };
  void Run();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunStore(Operation& op);
  void RunLoad(const Operation& op);
  void RunDiscard(const Operation& op);
  kvstore::BlockKey KeyFor(const std::string& tenant, const std::string& swap_key,
                           int64_t block_idx) const;
  kvstore::BlockLayout Layout() const { return options_.geometry.Layout(); }

  std::unique_ptr<kvstore::KvStoreClient> client_;
  const KvStoreSwapTierOptions options_;
  const std::string instance_id_;
  mutable absl::Mutex mu_;
  std::deque<Operation> queue_ ABSL_GUARDED_BY(mu_);
  // Loads asked for and not yet taken: their result once it is here.
  absl::flat_hash_map<std::string, std::optional<absl::StatusOr<std::vector<std::string>>>>
      loads_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_loaded_ ABSL_GUARDED_BY(mu_);
  int64_t stored_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_stores_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_KVSTORE_SWAP_TIER_H_
