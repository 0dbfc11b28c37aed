#include "worker/kv/kv_cache_storage.h"

#include "absl/strings/str_cat.h"
#include "core/kv_size.h"
#include "core/status.h"

namespace gqa {

absl::StatusOr<int64_t> KvCacheStorage::BytesPerBlock(const ModelConfig& config,
                                                      const ShardPlan& plan, DType dtype,
                                                      int64_t block_size) {
  ASSIGN_OR_RETURN(int64_t values, KvFormulaBytes(config.num_layers, plan.num_kv_heads, block_size,
                                                  config.head_dim, DTypeSize(dtype)));
  ASSIGN_OR_RETURN(int64_t scales, KvScaleBytes(config.num_layers, plan.num_kv_heads, block_size,
                                                dtype));
  return values + scales;
}

absl::StatusOr<std::unique_ptr<KvCacheStorage>> KvCacheStorage::Create(
    Backend* backend, const ModelConfig& config, const ShardPlan& plan,
    const KvCacheOptions& options) {
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV block size ", options.block_size, " must be positive"));
  }
  auto storage = std::unique_ptr<KvCacheStorage>(new KvCacheStorage());
  storage->options_ = options;
  ASSIGN_OR_RETURN(storage->bytes_per_block_,
                   BytesPerBlock(config, plan, options.dtype, options.block_size));
  storage->num_blocks_ = options.budget_bytes / storage->bytes_per_block_;
  if (storage->num_blocks_ < 1) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV budget of ", options.budget_bytes, " bytes holds no block of ",
        storage->bytes_per_block_, " bytes; raise --kv-bytes"));
  }
  const int64_t elements = storage->num_blocks_ * plan.num_kv_heads * options.block_size *
                           config.head_dim;
  const int64_t scales = storage->num_blocks_ * plan.num_kv_heads * options.block_size;
  for (int64_t l = 0; l < config.num_layers; ++l) {
    PagedKvView view;
    view.dtype = options.dtype;
    view.num_blocks = storage->num_blocks_;
    view.num_kv_heads = plan.num_kv_heads;
    view.head_dim = config.head_dim;
    view.block_size = options.block_size;
    for (void** target : {&view.k, &view.v}) {
      ASSIGN_OR_RETURN(auto buffer, backend->Allocate(elements * DTypeSize(options.dtype)));
      *target = buffer->data();
      storage->buffers_.push_back(std::move(buffer));
    }
    if (IsFp8(options.dtype)) {
      for (float** target : {&view.k_scale, &view.v_scale}) {
        ASSIGN_OR_RETURN(auto buffer, backend->Allocate(scales * kFp8ScaleBytes));
        *target = static_cast<float*>(buffer->data());
        storage->buffers_.push_back(std::move(buffer));
      }
    }
    storage->views_.push_back(view);
  }
  return storage;
}

}  // namespace gqa
