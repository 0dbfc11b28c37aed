// KvStoreBlockGeometry: what one rank's KV blocks look like in the kvstore:
// the payload layout (kvstore.proto BlockLayout), the KV heads they cover
// (KvShard) and the cache dtype. The prefix tier and the swap tier key and
// check their blocks with it. Plain value type.
#ifndef GQA_WORKER_SERVICE_KVSTORE_BLOCK_GEOMETRY_H_
#define GQA_WORKER_SERVICE_KVSTORE_BLOCK_GEOMETRY_H_

#include <cstdint>

#include "core/dtype.h"
#include "kvstore/store/block.h"
#include "worker/engine/model.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

struct KvStoreBlockGeometry {
  int32_t num_layers = 0;
  int32_t num_kv_heads = 0;  // of this rank, starting at first_kv_head
  int32_t first_kv_head = 0;
  int32_t head_dim = 0;
  int32_t block_size = 16;
  DType dtype = DType::kF32;  // the cache's

  // The blocks of `storage`, the cache of `model`'s rank.
  static KvStoreBlockGeometry Of(const Model& model, const KvCacheStorage& storage) {
    KvStoreBlockGeometry geometry;
    geometry.num_layers = static_cast<int32_t>(model.config().num_layers);
    geometry.num_kv_heads = static_cast<int32_t>(model.plan().num_kv_heads);
    geometry.first_kv_head = static_cast<int32_t>(model.plan().kv_head_begin);
    geometry.head_dim = static_cast<int32_t>(model.config().head_dim);
    geometry.block_size = static_cast<int32_t>(storage.block_size());
    geometry.dtype = storage.dtype();
    return geometry;
  }

  kvstore::BlockLayout Layout() const {
    kvstore::BlockLayout layout;
    layout.num_layers = num_layers;
    layout.block_tokens = block_size;
    layout.head_dim = head_dim;
    return layout;
  }

  kvstore::KvShard Shard() const {
    kvstore::KvShard shard;
    shard.first_kv_head = first_kv_head;
    shard.num_kv_heads = num_kv_heads;
    return shard;
  }
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_KVSTORE_BLOCK_GEOMETRY_H_
