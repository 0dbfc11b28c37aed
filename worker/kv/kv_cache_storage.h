// KvCacheStorage: the memory of one rank's paged KV cache, one K and one V
// pool per layer, sized from a byte budget. Exposes a PagedKvView per layer
// for the backend. The block geometry follows DESIGN.md: a block holds
// block_size tokens of this rank's KV heads for every layer, so
//   bytes per block = layers x kv_heads x 2 x block_size x head_dim x dtype bytes
// (+ 4-byte scales per token, KV head, K and V for FP8 dtypes).
// Thread-compatible.
#ifndef GQA_WORKER_KV_KV_CACHE_STORAGE_H_
#define GQA_WORKER_KV_KV_CACHE_STORAGE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/model_config.h"
#include "worker/backend/backend.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {

struct KvCacheOptions {
  DType dtype = DType::kBF16;    // storage dtype of K and V
  int64_t block_size = 16;       // tokens per block
  int64_t budget_bytes = 256LL << 20;  // KV memory for this rank; default 256 MiB
};

class KvCacheStorage {
 public:
  // RESOURCE_EXHAUSTED when the budget does not hold one block or cannot be
  // allocated; INVALID_ARGUMENT for a non-positive block size.
  static absl::StatusOr<std::unique_ptr<KvCacheStorage>> Create(Backend* backend,
                                                                const ModelConfig& config,
                                                                const ShardPlan& plan,
                                                                const KvCacheOptions& options);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return options_.block_size; }
  int64_t bytes_per_block() const { return bytes_per_block_; }
  DType dtype() const { return options_.dtype; }
  const std::vector<PagedKvView>& layer_views() const { return views_; }

  // Bytes per block for a shape: KvFormulaBytes plus KvScaleBytes
  // (core/kv_size.h) for this rank's KV heads and block_size tokens.
  // INVALID_ARGUMENT on overflow.
  static absl::StatusOr<int64_t> BytesPerBlock(const ModelConfig& config, const ShardPlan& plan, DType dtype,
                               int64_t block_size);

 private:
  KvCacheStorage() = default;

  KvCacheOptions options_;
  int64_t num_blocks_ = 0;
  int64_t bytes_per_block_ = 0;
  std::vector<std::unique_ptr<BackendBuffer>> buffers_;
  std::vector<PagedKvView> views_;  // [layers]
};

}  // namespace gqa

#endif  // GQA_WORKER_KV_KV_CACHE_STORAGE_H_
