// The kvstore's view of one stored KV block: its key (tenant, prefix id or
// swap slot, KV-head shard, dtype), the payload's geometry and the payload
// itself. These are the validated, proto-free types the storage tiers work
// with; kvstore/service/ converts gqa.v1 messages to them and rejects
// anything out of range before a tier sees it.
#ifndef GQA_KVSTORE_STORE_BLOCK_H_
#define GQA_KVSTORE_STORE_BLOCK_H_

#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace gqa::kvstore {

enum class BlockKind : uint8_t {
  kPrefix,  // a published prefix block, shared under its logical id
  kSwap,    // a private block of a preempted sequence
};

// Which KV heads a block covers: [first_kv_head, first_kv_head + num_kv_heads).
struct KvShard {
  int32_t first_kv_head = 0;
  int32_t num_kv_heads = 1;
  friend bool operator==(const KvShard&, const KvShard&) = default;
};

struct BlockKey {
  std::string tenant;     // 1..128 bytes
  BlockKind kind = BlockKind::kPrefix;
  std::string logical_id;  // kPrefix: 32 bytes (SHA-256 chain id)
  std::string seq_id;      // kSwap: 1..256 bytes
  int64_t block_idx = 0;   // kSwap: >= 0
  KvShard shard;
  DType dtype = DType::kF32;
  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

// kvstore.proto BlockLayout: payload = L x H x 2 x T x (D x dtype bytes +
// (fp8 ? 4 : 0)) bytes, elements then f32 scales (FP8 dtypes only).
struct BlockLayout {
  int32_t num_layers = 1;
  int32_t block_tokens = 1;
  int32_t head_dim = 1;
  friend bool operator==(const BlockLayout&, const BlockLayout&) = default;
};

struct Block {
  BlockKey key;
  BlockLayout layout;
  uint32_t payload_crc32c = 0;  // CRC-32C of payload
  std::string payload;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_BLOCK_H_
