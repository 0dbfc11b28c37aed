#include "kvstore/store/block_layout.h"

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace gqa::kvstore {

int64_t NumRows(const BlockLayout& layout, int32_t num_kv_heads) {
  return int64_t{layout.num_layers} * num_kv_heads * 2 * layout.block_tokens;
}

int64_t RowIndex(const BlockLayout& layout, int32_t num_kv_heads, int32_t layer, int32_t kv_head,
                 int32_t kv, int32_t token) {
  DCHECK(layer >= 0 && layer < layout.num_layers);
  DCHECK(kv_head >= 0 && kv_head < num_kv_heads);
  DCHECK(kv == 0 || kv == 1);
  DCHECK(token >= 0 && token < layout.block_tokens);
  return ((int64_t{layer} * num_kv_heads + kv_head) * 2 + kv) * layout.block_tokens + token;
}

int64_t ElementBytes(const BlockLayout& layout, int32_t num_kv_heads, DType dtype) {
  return NumRows(layout, num_kv_heads) * layout.head_dim * DTypeSize(dtype);
}

absl::StatusOr<int64_t> PayloadBytes(const BlockLayout& layout, int32_t num_kv_heads, DType dtype) {
  if (layout.num_layers < 1 || layout.block_tokens < 1 || layout.head_dim < 1 || num_kv_heads < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block layout needs num_layers, block_tokens, head_dim and num_kv_heads >= 1; got ",
        layout.num_layers, ", ", layout.block_tokens, ", ", layout.head_dim, ", ", num_kv_heads));
  }
  // Each factor is < 2^31, so compute in 128 bits and compare once.
  const __int128 row_bytes = static_cast<__int128>(layout.head_dim) * DTypeSize(dtype) +
                             (IsFp8(dtype) ? kFp8ScaleBytes : 0);
  const __int128 bytes =
      static_cast<__int128>(layout.num_layers) * num_kv_heads * 2 * layout.block_tokens * row_bytes;
  if (bytes > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block payload of ", layout.num_layers, " layers x ", num_kv_heads, " kv heads x 2 x ",
        layout.block_tokens, " tokens x ", static_cast<int64_t>(row_bytes),
        " bytes exceeds the store's limit of ", kMaxPayloadBytes, " bytes; use smaller blocks"));
  }
  return static_cast<int64_t>(bytes);
}

absl::Status ValidateKey(const BlockKey& key) {
  if (key.tenant.empty() || static_cast<int64_t>(key.tenant.size()) > kMaxTenantBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("tenant must be 1..", kMaxTenantBytes, " bytes, got ", key.tenant.size()));
  }
  switch (key.kind) {
    case BlockKind::kPrefix:
      if (static_cast<int64_t>(key.logical_id.size()) != kLogicalIdBytes) {
        return absl::InvalidArgumentError(absl::StrCat("a prefix block's logical_id must be ",
                                                       kLogicalIdBytes, " bytes, got ",
                                                       key.logical_id.size()));
      }
      if (!key.seq_id.empty() || key.block_idx != 0) {
        return absl::InvalidArgumentError("a prefix block key has no seq_id or block_idx");
      }
      break;
    case BlockKind::kSwap:
      if (key.seq_id.empty() || static_cast<int64_t>(key.seq_id.size()) > kMaxSeqIdBytes) {
        return absl::InvalidArgumentError(absl::StrCat("a swap block's seq_id must be 1..",
                                                       kMaxSeqIdBytes, " bytes, got ",
                                                       key.seq_id.size()));
      }
      if (key.block_idx < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("a swap block's block_idx must be >= 0, got ", key.block_idx));
      }
      if (!key.logical_id.empty()) {
        return absl::InvalidArgumentError("a swap block key has no logical_id");
      }
      break;
    default:
      return absl::InvalidArgumentError("unknown block kind");
  }
  if (key.shard.first_kv_head < 0 || key.shard.num_kv_heads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard needs first_kv_head >= 0 and num_kv_heads >= 1, got ",
                     key.shard.first_kv_head, " and ", key.shard.num_kv_heads));
  }
  if (DTypeSize(key.dtype) == 0) return absl::InvalidArgumentError("unknown dtype");
  return absl::OkStatus();
}

absl::Status ValidateBlock(const Block& block) {
  if (absl::Status status = ValidateKey(block.key); !status.ok()) return status;
  absl::StatusOr<int64_t> bytes =
      PayloadBytes(block.layout, block.key.shard.num_kv_heads, block.key.dtype);
  if (!bytes.ok()) return bytes.status();
  if (static_cast<int64_t>(block.payload.size()) != *bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload is ", block.payload.size(), " bytes but its layout (",
                     block.layout.num_layers, " layers, ", block.key.shard.num_kv_heads,
                     " kv heads, ", block.layout.block_tokens, " tokens, head_dim ",
                     block.layout.head_dim, ", ", DTypeName(block.key.dtype), ") needs ", *bytes));
  }
  return absl::OkStatus();
}

}  // namespace gqa::kvstore
