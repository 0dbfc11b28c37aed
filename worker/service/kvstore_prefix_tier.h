// KvStorePrefixTier: the PrefixTier of a gqa-kvstore (gqa-worker --kvstore).
// Blocks are keyed (tenant, logical id, every KV head of this rank, stored
// dtype) with the payload layout of kvstore.proto; uploads run on one
// background thread with a bounded queue. The stored dtype is the cache's,
// or, when the operator opts in (stored_dtype), FP8 with per-token scales
// for an f32/f16/bf16 cache: a quarter or half of the bytes, converted back
// on fetch within the bound in docs/kv-cache.md ("FP8 transcoding in the
// kvstore"), so a reused prefix is then close to, not bit-identical with,
// the computed one. Thread-safe.
#ifndef GQA_WORKER_SERVICE_KVSTORE_PREFIX_TIER_H_
#define GQA_WORKER_SERVICE_KVSTORE_PREFIX_TIER_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/dtype.h"
#include "kvstore/service/kvstore_client.h"
#include "worker/service/kvstore_block_geometry.h"
#include "worker/service/prefix_tier.h"

namespace gqa {

struct KvStorePrefixTierOptions {
  KvStoreBlockGeometry geometry;
  // Store prefix blocks as this FP8 dtype instead (f32/f16/bf16 caches only).
  std::optional<DType> stored_dtype;
  int64_t max_queued_bytes = 256LL << 20;  // uploads waiting; more are dropped
};

class KvStorePrefixTier final : public PrefixTier {
 public:
  KvStorePrefixTier(std::unique_ptr<kvstore::KvStoreClient> client,
                    KvStorePrefixTierOptions options);
  // Stops the uploader (queued blocks not yet sent are dropped).
  ~KvStorePrefixTier() override;

  std::vector<std::string> Fetch(const std::string& tenant,
                                 absl::Span<const BlockId> chain) override;
  void Publish(const std::string& tenant, const BlockId& id, std::string payload) override;

  int64_t num_uploaded() const;
  int64_t num_dropped() const;

 private:
  kvstore::BlockKey KeyFor(const std::string& tenant, const BlockId& id) const;
  kvstore::BlockLayout Layout() const { return options_.geometry.Layout(); }
  DType StoredDtype() const { return options_.stored_dtype.value_or(options_.geometry.dtype); }
  bool Transcodes() const { return StoredDtype() != options_.geometry.dtype; }
  void UploadLoop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<kvstore::KvStoreClient> client_;
  const KvStorePrefixTierOptions options_;
  mutable absl::Mutex mu_;
  std::deque<kvstore::Block> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t uploaded_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread uploader_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_KVSTORE_PREFIX_TIER_H_
