// Conversion between the gqa.v1 kvstore messages and the store's proto-free
// types (kvstore/store/block.h), with every range check kvstore.proto lists:
// a message that fails one gets INVALID_ARGUMENT naming the field and the
// bound. Used by KvStoreService (requests in, blocks and stats out) and by
// KvStoreClient (the reverse). Pure functions; thread-safe.
#ifndef GQA_KVSTORE_SERVICE_BLOCK_CONVERT_H_
#define GQA_KVSTORE_SERVICE_BLOCK_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gqa/v1/kvstore.pb.h"
#include "kvstore/store/block_layout.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

// kMaxTenantBytes, kLogicalIdBytes and kMaxSeqIdBytes: kvstore/store/block_layout.h.
inline constexpr int64_t kMaxChunkBytes = int64_t{1} << 20;  // per Put/Get message
inline constexpr int kMaxKeysPerRequest = 1024;  // Get and Delete
inline constexpr int kMaxLookupIds = 4096;

// The bounds the store enforces beyond the fixed ones above.
struct KvStoreLimits {
  // The longest swap_ttl_ms a swap block may ask for (--max-swap-ttl-ms), in
  // [1, 7 days]. Default 600000 (10 minutes).
  int64_t max_swap_ttl_ms = 600000;
  // The largest payload of one block, in bytes, in [1, 1 GiB]; a larger
  // layout is INVALID_ARGUMENT. Default 64 MiB.
  int64_t max_block_bytes = int64_t{64} << 20;
  // The largest layout.block_tokens: the store does not know the workers'
  // block size, so it bounds it by this. Default 1024 (blocks are 16).
  int32_t max_block_tokens = 1024;
  // The store does not know the model either: a shard must end at or before
  // this many KV heads. Default 1024.
  int32_t max_kv_heads = 1024;
};

// INVALID_ARGUMENT naming the limit that is out of its range.
absl::Status ValidateLimits(const KvStoreLimits& limits);

// The payload size of a validated layout, shard and dtype:
// L x H x 2 x T x (D x dtype bytes + (fp8 ? 4 : 0)).
int64_t LayoutPayloadBytes(const BlockLayout& layout, const KvShard& shard, DType dtype);

// Field conversions. `field` is the message path used in error messages,
// e.g. "keys[3]" or "header.key".
absl::StatusOr<DType> DTypeFromProto(v1::KvDtype dtype, absl::string_view field);
// (DType -> proto: gqa::DTypeToProto in proto/convert/kv_convert.h.)
absl::Status ValidateTenant(absl::string_view tenant, absl::string_view field);
absl::Status ValidateSeqId(absl::string_view seq_id, absl::string_view field);
absl::StatusOr<KvShard> ShardFromProto(const v1::KvShard& shard, const KvStoreLimits& limits,
                                       absl::string_view field);
absl::StatusOr<BlockKey> BlockKeyFromProto(const v1::BlockKey& key, const KvStoreLimits& limits,
                                           absl::string_view field);
void BlockKeyToProto(const BlockKey& key, v1::BlockKey* proto);

// The start of a Put block: everything but the payload.
struct PutHeader {
  Block block;                // key, layout and crc; payload empty
  int64_t payload_bytes = 0;  // what the layout implies, <= max_block_bytes
  int64_t swap_ttl_ms = 0;    // > 0 for swap blocks, 0 for prefix blocks
};

// The header of a Put message (REQUIRES: request.has_header()), with the
// layout, size and TTL rules of kvstore.proto. `block_idx` (the block's
// position in the stream) only names it in error messages.
absl::StatusOr<PutHeader> PutHeaderFromProto(const v1::PutRequest& request,
                                             const KvStoreLimits& limits, int64_t block_idx);
// The header a Get stream sends for `block` (its payload is not copied).
void BlockHeaderToProto(const Block& block, v1::BlockHeader* proto);
// The layout of a Get header, checked like a Put header's (for the client).
absl::StatusOr<Block> BlockFromHeaderProto(const v1::BlockHeader& header,
                                           const KvStoreLimits& limits);

// The keys of a Get or Delete: 1..1024 of them, each valid. `field` names
// the repeated field ("keys").
absl::StatusOr<std::vector<BlockKey>> KeysFromProto(
    const google::protobuf::RepeatedPtrField<v1::BlockKey>& keys, const KvStoreLimits& limits,
    absl::string_view field);

struct LookupQuery {
  std::string tenant;
  KvShard shard;
  DType dtype = DType::kF32;
  std::vector<std::string> logical_ids;  // 1..4096, 32 bytes each
};
absl::StatusOr<LookupQuery> LookupQueryFromProto(const v1::LookupRequest& request,
                                                 const KvStoreLimits& limits);

// What a Delete names: either keys or one swap sequence (keys empty).
struct DeleteTarget {
  std::vector<BlockKey> keys;
  std::string tenant;  // of the swap sequence
  std::string seq_id;  // non-empty: delete this sequence's swap blocks
};
absl::StatusOr<DeleteTarget> DeleteTargetFromProto(const v1::DeleteRequest& request,
                                                   const KvStoreLimits& limits);

v1::PutOutcome PutOutcomeToProto(PutOutcome outcome);
absl::StatusOr<PutOutcome> PutOutcomeFromProto(v1::PutOutcome outcome);
void StatsToProto(const StoreStats& stats, v1::StatsResponse* proto);
StoreStats StatsFromProto(const v1::StatsResponse& proto);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_BLOCK_CONVERT_H_
