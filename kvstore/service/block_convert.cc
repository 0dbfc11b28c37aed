#include "kvstore/service/block_convert.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "proto/convert/kv_convert.h"

namespace gqa::kvstore {
namespace {

constexpr int64_t kMaxSwapTtlLimitMs = int64_t{7} * 24 * 3600 * 1000;
constexpr int64_t kMaxBlockBytesLimit = int64_t{1} << 30;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

int64_t ScaleBytes(DType dtype) { return IsFp8(dtype) ? 4 : 0; }

// The layout of a block whose key (shard, dtype) is valid: ranges, the scale
// type and the size bound. `field` names the layout message.
absl::StatusOr<BlockLayout> LayoutFromProto(const v1::BlockLayout& proto, const KvShard& shard,
                                            DType dtype, const KvStoreLimits& limits,
                                            absl::string_view field) {
  if (proto.num_layers() < 1) {
    return Invalid(field, absl::StrCat("num_layers = ", proto.num_layers(), " must be >= 1"));
  }
  if (proto.block_tokens() < 1 || proto.block_tokens() > limits.max_block_tokens) {
    return Invalid(field, absl::StrCat("block_tokens = ", proto.block_tokens(), " must be in [1, ",
                                       limits.max_block_tokens, "]"));
  }
  if (proto.head_dim() < 1) {
    return Invalid(field, absl::StrCat("head_dim = ", proto.head_dim(), " must be >= 1"));
  }
  const v1::ScaleDtype want = IsFp8(dtype) ? v1::SCALE_DTYPE_F32 : v1::SCALE_DTYPE_NONE;
  if (proto.scale_dtype() != want) {
    return Invalid(field, absl::StrCat("scale_dtype = ", v1::ScaleDtype_Name(proto.scale_dtype()),
                                       " does not fit dtype ", DTypeName(dtype), "; it must be ",
                                       v1::ScaleDtype_Name(want)));
  }
  // L x H x 2 x T x (D x s + scale), checked against the bound factor by
  // factor so that no product overflows.
  const int64_t factors[] = {proto.num_layers(), shard.num_kv_heads, 2, proto.block_tokens(),
                             proto.head_dim() * DTypeSize(dtype) + ScaleBytes(dtype)};
  int64_t bytes = 1;
  for (int64_t factor : factors) {
    if (bytes > limits.max_block_bytes / factor) {
      return Invalid(field, absl::StrCat(
          "the payload of ", proto.num_layers(), " layers x ", shard.num_kv_heads,
          " KV heads x 2 x ", proto.block_tokens(), " tokens x (", proto.head_dim(), " x ",
          DTypeSize(dtype), " + ", ScaleBytes(dtype), ") bytes exceeds the store's maximum block "
          "size of ", limits.max_block_bytes, " bytes; send smaller blocks"));
    }
    bytes *= factor;
  }
  BlockLayout layout;
  layout.num_layers = proto.num_layers();
  layout.block_tokens = proto.block_tokens();
  layout.head_dim = proto.head_dim();
  return layout;
}

}  // namespace

absl::Status ValidateLimits(const KvStoreLimits& limits) {
  if (limits.max_swap_ttl_ms < 1 || limits.max_swap_ttl_ms > kMaxSwapTtlLimitMs) {
    return absl::InvalidArgumentError(absl::StrCat("max_swap_ttl_ms = ", limits.max_swap_ttl_ms,
                                                   " must be in [1, ", kMaxSwapTtlLimitMs, "]"));
  }
  if (limits.max_block_bytes < 1 || limits.max_block_bytes > kMaxBlockBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("max_block_bytes = ", limits.max_block_bytes,
                                                   " must be in [1, ", kMaxBlockBytesLimit, "]"));
  }
  if (limits.max_block_tokens < 1) {
    return absl::InvalidArgumentError("max_block_tokens must be >= 1");
  }
  if (limits.max_kv_heads < 1) return absl::InvalidArgumentError("max_kv_heads must be >= 1");
  return absl::OkStatus();
}

int64_t LayoutPayloadBytes(const BlockLayout& layout, const KvShard& shard, DType dtype) {
  return int64_t{layout.num_layers} * shard.num_kv_heads * 2 * layout.block_tokens *
         (int64_t{layout.head_dim} * DTypeSize(dtype) + ScaleBytes(dtype));
}

absl::StatusOr<DType> DTypeFromProto(v1::KvDtype dtype, absl::string_view field) {
  if (std::optional<DType> known = gqa::DTypeFromProto(dtype)) return *known;
  return Invalid(field, absl::StrCat("dtype ", static_cast<int>(dtype),
                                     dtype == v1::KV_DTYPE_UNSPECIFIED ? " (KV_DTYPE_UNSPECIFIED)"
                                                                       : " (unknown)",
                                     " is not a storable dtype; set the block's KV dtype"));
}

absl::Status ValidateTenant(absl::string_view tenant, absl::string_view field) {
  if (tenant.empty() || static_cast<int64_t>(tenant.size()) > kMaxTenantBytes) {
    return Invalid(field, absl::StrCat("tenant is ", tenant.size(), " bytes; it must be 1..",
                                       kMaxTenantBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateSeqId(absl::string_view seq_id, absl::string_view field) {
  if (seq_id.empty() || static_cast<int64_t>(seq_id.size()) > kMaxSeqIdBytes) {
    return Invalid(field, absl::StrCat("seq_id is ", seq_id.size(), " bytes; it must be 1..",
                                       kMaxSeqIdBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<KvShard> ShardFromProto(const v1::KvShard& proto, const KvStoreLimits& limits,
                                       absl::string_view field) {
  if (proto.first_kv_head() < 0 || proto.num_kv_heads() < 1 ||
      int64_t{proto.first_kv_head()} + proto.num_kv_heads() > limits.max_kv_heads) {
    return Invalid(field, absl::StrCat("shard [first_kv_head = ", proto.first_kv_head(),
                                       ", num_kv_heads = ", proto.num_kv_heads(),
                                       "] must have first_kv_head >= 0, num_kv_heads >= 1 and "
                                       "first_kv_head + num_kv_heads <= ",
                                       limits.max_kv_heads));
  }
  KvShard shard;
  shard.first_kv_head = proto.first_kv_head();
  shard.num_kv_heads = proto.num_kv_heads();
  return shard;
}

absl::StatusOr<BlockKey> BlockKeyFromProto(const v1::BlockKey& proto, const KvStoreLimits& limits,
                                           absl::string_view field) {
  BlockKey key;
  RETURN_IF_ERROR(ValidateTenant(proto.tenant(), field));
  key.tenant = proto.tenant();
  switch (proto.id_case()) {
    case v1::BlockKey::kLogicalId:
      if (static_cast<int64_t>(proto.logical_id().size()) != kLogicalIdBytes) {
        return Invalid(field, absl::StrCat("logical_id is ", proto.logical_id().size(),
                                           " bytes; it must be exactly ", kLogicalIdBytes,
                                           " (a SHA-256 chain id)"));
      }
      key.kind = BlockKind::kPrefix;
      key.logical_id = proto.logical_id();
      break;
    case v1::BlockKey::kSwap:
      RETURN_IF_ERROR(ValidateSeqId(proto.swap().seq_id(), absl::StrCat(field, ".swap")));
      if (proto.swap().block_idx() < 0) {
        return Invalid(field, absl::StrCat("swap.block_idx = ", proto.swap().block_idx(),
                                           " must be >= 0"));
      }
      key.kind = BlockKind::kSwap;
      key.seq_id = proto.swap().seq_id();
      key.block_idx = proto.swap().block_idx();
      break;
    case v1::BlockKey::ID_NOT_SET:
      return Invalid(field, "no id: set logical_id (a prefix block) or swap (a swap block)");
  }
  ASSIGN_OR_RETURN(key.shard, ShardFromProto(proto.shard(), limits, field));
  ASSIGN_OR_RETURN(key.dtype, DTypeFromProto(proto.dtype(), field));
  return key;
}

void BlockKeyToProto(const BlockKey& key, v1::BlockKey* proto) {
  proto->set_tenant(key.tenant);
  if (key.kind == BlockKind::kPrefix) {
    proto->set_logical_id(key.logical_id);
  } else {
    proto->mutable_swap()->set_seq_id(key.seq_id);
    proto->mutable_swap()->set_block_idx(key.block_idx);
  }
  proto->mutable_shard()->set_first_kv_head(key.shard.first_kv_head);
  proto->mutable_shard()->set_num_kv_heads(key.shard.num_kv_heads);
  proto->set_dtype(DTypeToProto(key.dtype));
}

absl::StatusOr<PutHeader> PutHeaderFromProto(const v1::PutRequest& request,
                                             const KvStoreLimits& limits, int64_t block_idx) {
  const std::string field = absl::StrCat("block ", block_idx);
  PutHeader put;
  absl::StatusOr<Block> block = BlockFromHeaderProto(request.header(), limits);
  if (!block.ok()) return Annotate(block.status(), field);
  put.block = *std::move(block);
  put.payload_bytes =
      LayoutPayloadBytes(put.block.layout, put.block.key.shard, put.block.key.dtype);
  if (put.block.key.kind == BlockKind::kSwap) {
    if (request.swap_ttl_ms() < 1 || request.swap_ttl_ms() > limits.max_swap_ttl_ms) {
      return Invalid(field, absl::StrCat("swap_ttl_ms = ", request.swap_ttl_ms(),
                                         " must be in [1, ", limits.max_swap_ttl_ms,
                                         "] for a swap block"));
    }
  } else if (request.swap_ttl_ms() != 0) {
    return Invalid(field, absl::StrCat("swap_ttl_ms = ", request.swap_ttl_ms(),
                                       " must be 0 for a prefix block (it lives until evicted)"));
  }
  put.swap_ttl_ms = request.swap_ttl_ms();
  return put;
}

absl::StatusOr<Block> BlockFromHeaderProto(const v1::BlockHeader& header,
                                           const KvStoreLimits& limits) {
  Block block;
  ASSIGN_OR_RETURN(block.key, BlockKeyFromProto(header.key(), limits, "header.key"));
  ASSIGN_OR_RETURN(block.layout, LayoutFromProto(header.layout(), block.key.shard,
                                                 block.key.dtype, limits, "header.layout"));
  block.payload_crc32c = header.payload_crc32c();
  return block;
}

void BlockHeaderToProto(const Block& block, v1::BlockHeader* proto) {
  BlockKeyToProto(block.key, proto->mutable_key());
  v1::BlockLayout* layout = proto->mutable_layout();
  layout->set_num_layers(block.layout.num_layers);
  layout->set_block_tokens(block.layout.block_tokens);
  layout->set_head_dim(block.layout.head_dim);
  layout->set_scale_dtype(IsFp8(block.key.dtype) ? v1::SCALE_DTYPE_F32 : v1::SCALE_DTYPE_NONE);
  proto->set_payload_crc32c(block.payload_crc32c);
}

absl::StatusOr<std::vector<BlockKey>> KeysFromProto(
    const google::protobuf::RepeatedPtrField<v1::BlockKey>& keys, const KvStoreLimits& limits,
    absl::string_view field) {
  if (keys.empty() || keys.size() > kMaxKeysPerRequest) {
    return Invalid(field, absl::StrCat("has ", keys.size(), " keys; send 1..", kMaxKeysPerRequest,
                                       " per request"));
  }
  std::vector<BlockKey> result;
  result.reserve(keys.size());
  for (int i = 0; i < keys.size(); ++i) {
    ASSIGN_OR_RETURN(BlockKey key,
                     BlockKeyFromProto(keys[i], limits, absl::StrCat(field, "[", i, "]")));
    result.push_back(std::move(key));
  }
  return result;
}

absl::StatusOr<LookupQuery> LookupQueryFromProto(const v1::LookupRequest& request,
                                                 const KvStoreLimits& limits) {
  LookupQuery query;
  RETURN_IF_ERROR(ValidateTenant(request.tenant(), "LookupRequest"));
  query.tenant = request.tenant();
  ASSIGN_OR_RETURN(query.shard, ShardFromProto(request.shard(), limits, "LookupRequest"));
  ASSIGN_OR_RETURN(query.dtype, DTypeFromProto(request.dtype(), "LookupRequest"));
  const int n = request.logical_ids_size();
  if (n == 0 || n > kMaxLookupIds) {
    return Invalid("logical_ids", absl::StrCat("has ", n, " ids; send 1..", kMaxLookupIds));
  }
  query.logical_ids.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (static_cast<int64_t>(request.logical_ids(i).size()) != kLogicalIdBytes) {
      return Invalid(absl::StrCat("logical_ids[", i, "]"),
                     absl::StrCat("is ", request.logical_ids(i).size(),
                                  " bytes; it must be exactly ", kLogicalIdBytes));
    }
    query.logical_ids.push_back(request.logical_ids(i));
  }
  return query;
}

absl::StatusOr<DeleteTarget> DeleteTargetFromProto(const v1::DeleteRequest& request,
                                                   const KvStoreLimits& limits) {
  DeleteTarget target;
  switch (request.target_case()) {
    case v1::DeleteRequest::kKeys: {
      ASSIGN_OR_RETURN(target.keys, KeysFromProto(request.keys().keys(), limits, "keys.keys"));
      return target;
    }
    case v1::DeleteRequest::kSwapSequence:
      RETURN_IF_ERROR(ValidateTenant(request.swap_sequence().tenant(), "swap_sequence"));
      RETURN_IF_ERROR(ValidateSeqId(request.swap_sequence().seq_id(), "swap_sequence"));
      target.tenant = request.swap_sequence().tenant();
      target.seq_id = request.swap_sequence().seq_id();
      return target;
    case v1::DeleteRequest::TARGET_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("nothing named: set keys or swap_sequence");
}

v1::PutOutcome PutOutcomeToProto(PutOutcome outcome) {
  return outcome == PutOutcome::kStored ? v1::PUT_OUTCOME_STORED : v1::PUT_OUTCOME_ALREADY_PRESENT;
}

absl::StatusOr<PutOutcome> PutOutcomeFromProto(v1::PutOutcome outcome) {
  switch (outcome) {
    case v1::PUT_OUTCOME_STORED: return PutOutcome::kStored;
    case v1::PUT_OUTCOME_ALREADY_PRESENT: return PutOutcome::kAlreadyPresent;
    default: break;
  }
  return absl::InternalError(absl::StrCat("the store answered put outcome ", outcome));
}

namespace {

v1::StorageTier TierToProto(TierKind tier) {
  switch (tier) {
    case TierKind::kMemory: return v1::STORAGE_TIER_MEMORY;
    case TierKind::kDisk: return v1::STORAGE_TIER_DISK;
    case TierKind::kRedis: return v1::STORAGE_TIER_REDIS;
  }
  return v1::STORAGE_TIER_UNSPECIFIED;
}

TierKind TierFromProto(v1::StorageTier tier) {
  switch (tier) {
    case v1::STORAGE_TIER_DISK: return TierKind::kDisk;
    case v1::STORAGE_TIER_REDIS: return TierKind::kRedis;
    default: return TierKind::kMemory;
  }
}

}  // namespace

void StatsToProto(const StoreStats& stats, v1::StatsResponse* proto) {
  for (const TierStats& tier : stats.tiers) {
    v1::TierStats* out = proto->add_tiers();
    out->set_tier(TierToProto(tier.tier));
    out->set_capacity_bytes(tier.capacity_bytes);
    out->set_used_bytes(tier.used_bytes);
    out->set_num_prefix_blocks(tier.num_prefix_blocks);
    out->set_num_swap_blocks(tier.num_swap_blocks);
    out->set_num_hits(tier.num_hits);
    out->set_num_evictions(tier.num_evictions);
    out->set_num_corrupt_dropped(tier.num_corrupt_dropped);
  }
  proto->set_num_misses(stats.num_misses);
  proto->set_num_expired_swap_blocks(stats.num_expired_swap_blocks);
}

StoreStats StatsFromProto(const v1::StatsResponse& proto) {
  StoreStats stats;
  for (const v1::TierStats& in : proto.tiers()) {
    TierStats tier;
    tier.tier = TierFromProto(in.tier());
    tier.capacity_bytes = in.capacity_bytes();
    tier.used_bytes = in.used_bytes();
    tier.num_prefix_blocks = in.num_prefix_blocks();
    tier.num_swap_blocks = in.num_swap_blocks();
    tier.num_hits = in.num_hits();
    tier.num_evictions = in.num_evictions();
    tier.num_corrupt_dropped = in.num_corrupt_dropped();
    stats.tiers.push_back(tier);
  }
  stats.num_misses = proto.num_misses();
  stats.num_expired_swap_blocks = proto.num_expired_swap_blocks();
  return stats;
}

}  // namespace gqa::kvstore
