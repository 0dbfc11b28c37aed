// Payload geometry of a stored KV block (kvstore.proto BlockLayout): its byte
// size, where each (layer, kv head, K/V, token) row and its FP8 scale sit, and
// range checks on keys and blocks. Used by every tier, the FP8 transcoder and
// the service. Pure functions: thread-safe.
//
//   elements [num_layers][num_kv_heads][2: K, V][block_tokens][head_dim]  of dtype
//   scales   [num_layers][num_kv_heads][2: K, V][block_tokens]            f32, FP8 only
//   payload bytes = L x H x 2 x T x (D x DTypeSize(dtype) + (IsFp8(dtype) ? 4 : 0))
#ifndef GQA_KVSTORE_STORE_BLOCK_LAYOUT_H_
#define GQA_KVSTORE_STORE_BLOCK_LAYOUT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

// Limits from kvstore.proto.
inline constexpr int64_t kMaxTenantBytes = 128;
inline constexpr int64_t kLogicalIdBytes = 32;
inline constexpr int64_t kMaxSeqIdBytes = 256;
// Bytes of one FP8 scale (f32).
inline constexpr int64_t kFp8ScaleBytes = 4;
// The largest payload the store accepts: 4 GiB - 1, so sizes fit the record
// format's fields with room to spare. Real blocks are a few MiB.
inline constexpr int64_t kMaxPayloadBytes = (int64_t{1} << 32) - 1;

// Rows of a payload: L x H x 2 x T (one row = one head vector of one token).
int64_t NumRows(const BlockLayout& layout, int32_t num_kv_heads);

// The index of row (layer, kv_head, kv: 0 = K, 1 = V, token) in
// [0, NumRows). REQUIRES: each index in range.
int64_t RowIndex(const BlockLayout& layout, int32_t num_kv_heads, int32_t layer, int32_t kv_head,
                 int32_t kv, int32_t token);

// Bytes of the elements part: NumRows x D x DTypeSize(dtype). Scales start here.
int64_t ElementBytes(const BlockLayout& layout, int32_t num_kv_heads, DType dtype);

// The payload size of a block. INVALID_ARGUMENT when a dimension is < 1 or
// the size exceeds kMaxPayloadBytes.
absl::StatusOr<int64_t> PayloadBytes(const BlockLayout& layout, int32_t num_kv_heads, DType dtype);

// Range checks of kvstore.proto: tenant 1..128 bytes; a prefix key's id 32
// bytes (and no swap fields); a swap key's seq_id 1..256 bytes and block_idx
// >= 0 (and no logical id); shard first_kv_head >= 0, num_kv_heads >= 1.
// INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateKey(const BlockKey& key);

// ValidateKey, a valid layout, and payload.size() == PayloadBytes(...).
// (The checksum is checked separately; see TieredBlockStore::Put.)
absl::Status ValidateBlock(const Block& block);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_BLOCK_LAYOUT_H_
