#include "kvstore/store/tiered_block_store.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/status.h"
#include "kvstore/store/block_layout.h"
#include "kvstore/store/redis_tier.h"

namespace gqa::kvstore {
namespace {

// now + ttl_ms, saturating.
int64_t ExpiryNs(int64_t now_ns, int64_t ttl_ms) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (ttl_ms > (kMax - now_ns) / 1'000'000) return kMax;
  return now_ns + ttl_ms * 1'000'000;
}

absl::Status ValidateSequence(const std::string& tenant, const std::string& seq_id) {
  if (tenant.empty() || static_cast<int64_t>(tenant.size()) > kMaxTenantBytes || seq_id.empty() ||
      static_cast<int64_t>(seq_id.size()) > kMaxSeqIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("tenant must be 1..", kMaxTenantBytes, " bytes and seq_id 1..", kMaxSeqIdBytes,
                     " bytes; got ", tenant.size(), " and ", seq_id.size()));
  }
  return absl::OkStatus();
}

}  // namespace

TieredBlockStore::TieredBlockStore(Env* env, TieredBlockStoreOptions& options)
    : env_(env),
      promote_on_get_(options.promote_on_get),
      sweep_interval_ns_(options.sweep_interval_ns),
      redis_client_(std::move(options.redis)) {}

TieredBlockStore::~TieredBlockStore() = default;

absl::StatusOr<std::unique_ptr<TieredBlockStore>> TieredBlockStore::Open(
    TieredBlockStoreOptions options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  if (options.memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory_bytes must be >= 0, got ", options.memory_bytes));
  }
  if (!options.disk_dir.empty() && options.disk_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a disk tier at ", options.disk_dir, " needs disk_bytes > 0, got ", options.disk_bytes));
  }
  if (options.memory_bytes == 0 && options.disk_dir.empty() && options.redis == nullptr) {
    return absl::InvalidArgumentError(
        "the block store needs at least one tier: memory_bytes > 0, a disk_dir or a Redis client");
  }
  std::unique_ptr<TieredBlockStore> store(new TieredBlockStore(env, options));
  // Built bottom-up, so the memory tier can demote to the one below it.
  std::vector<std::unique_ptr<Tier>> lower;
  if (!options.disk_dir.empty()) {
    DiskTierOptions disk;
    disk.env = env;
    disk.dir = options.disk_dir;
    disk.capacity_bytes = options.disk_bytes;
    disk.segment_bytes = options.disk_segment_bytes;
    disk.sync_writes = options.disk_sync_writes;
    ASSIGN_OR_RETURN(std::unique_ptr<DiskTier> tier, DiskTier::Open(std::move(disk)));
    store->disk_ = tier.get();
    lower.push_back(std::move(tier));
  }
  if (store->redis_client_ != nullptr) {
    RedisTierOptions redis;
    redis.client = store->redis_client_.get();
    redis.env = env;
    redis.key_prefix = options.redis_key_prefix;
    redis.capacity_bytes = options.redis_capacity_bytes;
    ASSIGN_OR_RETURN(std::unique_ptr<RedisTier> tier, RedisTier::Create(std::move(redis)));
    lower.push_back(std::move(tier));
  }
  if (options.memory_bytes > 0) {
    MemoryTierOptions memory;
    memory.capacity_bytes = options.memory_bytes;
    memory.env = env;
    memory.policy_factory = options.memory_policy;
    memory.next = lower.empty() ? nullptr : lower.front().get();
    auto tier = std::make_unique<MemoryTier>(std::move(memory));
    store->memory_ = tier.get();
    store->tiers_.push_back(std::move(tier));
  }
  for (auto& tier : lower) store->tiers_.push_back(std::move(tier));
  return store;
}

int64_t TieredBlockStore::SweepLocked(int64_t now_ns) {
  last_sweep_ns_ = now_ns;
  int64_t num_expired = 0;
  for (const auto& tier : tiers_) num_expired += tier->SweepExpired();
  return num_expired;
}

int64_t TieredBlockStore::SweepExpired() {
  absl::WriterMutexLock lock(&mu_);
  return SweepLocked(env_->NowNanos());
}

absl::StatusOr<PutOutcome> TieredBlockStore::Put(Block block, int64_t swap_ttl_ms) {
  return PutBlock(std::move(block), swap_ttl_ms, /*verify_payload=*/true);
}

absl::StatusOr<PutOutcome> TieredBlockStore::PutChecked(Block block, int64_t swap_ttl_ms) {
  return PutBlock(std::move(block), swap_ttl_ms, /*verify_payload=*/false);
}

BlockStoreTraits TieredBlockStore::traits() const {
  const bool memory_only = tiers_.size() == 1 && memory_ != nullptr;
  BlockStoreTraits traits;
  traits.memory_only = memory_only;
  traits.get_verifies_payload = memory_only;  // MemoryTier::Get checks the copy it returns
  return traits;
}

absl::StatusOr<PutOutcome> TieredBlockStore::PutBlock(Block block, int64_t swap_ttl_ms,
                                                      bool verify_payload) {
  RETURN_IF_ERROR(ValidateBlock(block));
  const bool swap = block.key.kind == BlockKind::kSwap;
  if (swap ? swap_ttl_ms <= 0 : swap_ttl_ms != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "swap_ttl_ms must be > 0 for a swap block and 0 for a prefix block, got ", swap_ttl_ms));
  }
  if (verify_payload && crc32c::Value(block.payload) != block.payload_crc32c) {
    return absl::DataLossError(absl::StrCat("block payload does not match its crc32c 0x",
                                            absl::Hex(block.payload_crc32c),
                                            "; it was not stored"));
  }
  const int64_t now_ns = env_->NowNanos();
  const int64_t expiry_ns = swap ? ExpiryNs(now_ns, swap_ttl_ms) : 0;
  const BlockRef ref = std::make_shared<const Block>(std::move(block));
  const BlockKey& key = ref->key;

  absl::WriterMutexLock lock(&mu_);
  if (now_ns - last_sweep_ns_ >= sweep_interval_ns_) SweepLocked(now_ns);
  if (!swap) {
    for (const auto& tier : tiers_) {
      ASSIGN_OR_RETURN(bool held, tier->Contains(key));
      if (held) return PutOutcome::kAlreadyPresent;
    }
  }
  std::string refusals;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    absl::StatusOr<PutOutcome> outcome = tiers_[i]->Put(ref, expiry_ns);
    if (outcome.ok()) {
      // A swap block lives in one tier: drop older copies elsewhere, above
      // all in a faster tier, which would otherwise shadow this one.
      for (size_t j = 0; swap && j < tiers_.size(); ++j) {
        if (j == i) continue;
        absl::StatusOr<bool> deleted = tiers_[j]->Delete(key);
        if (!deleted.ok()) return deleted.status();
      }
      return *outcome;
    }
    if (!absl::IsResourceExhausted(outcome.status())) return outcome.status();
    absl::StrAppend(&refusals, refusals.empty() ? "" : "; ", outcome.status().message());
  }
  return absl::ResourceExhaustedError(absl::StrCat("no tier has room: ", refusals));
}

absl::StatusOr<Block> TieredBlockStore::Get(const BlockKey& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  absl::StatusOr<Block> block = absl::NotFoundError("");
  size_t found_in = tiers_.size();
  {
    absl::ReaderMutexLock lock(&mu_);
    for (size_t i = 0; i < tiers_.size(); ++i) {
      block = tiers_[i]->Get(key);
      if (block.ok()) {
        found_in = i;
        break;
      }
      if (!absl::IsNotFound(block.status())) return block.status();
    }
  }
  if (found_in == tiers_.size()) {
    num_misses_.fetch_add(1);
    return absl::NotFoundError(
        "block not found: never stored, evicted, expired, corrupt, or another tenant's");
  }
  if (promote_on_get_ && memory_ != nullptr && found_in > 0 && key.kind == BlockKind::kPrefix) {
    absl::WriterMutexLock lock(&mu_);
    absl::StatusOr<PutOutcome> promoted = memory_->Put(std::make_shared<const Block>(*block), 0);
    if (!promoted.ok()) VLOG(1) << "prefix block not promoted: " << promoted.status();
  }
  return block;
}

absl::StatusOr<int64_t> TieredBlockStore::Lookup(const std::string& tenant, const KvShard& shard,
                                                 DType dtype,
                                                 absl::Span<const std::string> logical_ids) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kPrefix;
  key.shard = shard;
  key.dtype = dtype;
  absl::ReaderMutexLock lock(&mu_);
  for (size_t i = 0; i < logical_ids.size(); ++i) {
    key.logical_id = logical_ids[i];
    RETURN_IF_ERROR(ValidateKey(key));
    bool present = false;
    for (const auto& tier : tiers_) {
      ASSIGN_OR_RETURN(present, tier->Contains(key));
      if (present) break;
    }
    if (!present) return static_cast<int64_t>(i);
  }
  return static_cast<int64_t>(logical_ids.size());
}

absl::StatusOr<int64_t> TieredBlockStore::Delete(absl::Span<const BlockKey> keys) {
  for (const BlockKey& key : keys) RETURN_IF_ERROR(ValidateKey(key));
  absl::WriterMutexLock lock(&mu_);
  int64_t num_deleted = 0;
  for (const BlockKey& key : keys) {
    bool existed = false;
    for (const auto& tier : tiers_) {
      ASSIGN_OR_RETURN(bool deleted, tier->Delete(key));
      existed = existed || deleted;
    }
    num_deleted += existed ? 1 : 0;
  }
  return num_deleted;
}

absl::StatusOr<int64_t> TieredBlockStore::DeleteSwapSequence(const std::string& tenant,
                                                             const std::string& seq_id) {
  RETURN_IF_ERROR(ValidateSequence(tenant, seq_id));
  absl::WriterMutexLock lock(&mu_);
  int64_t num_deleted = 0;
  for (const auto& tier : tiers_) {
    ASSIGN_OR_RETURN(int64_t deleted, tier->DeleteSwapSequence(tenant, seq_id));
    num_deleted += deleted;
  }
  return num_deleted;
}

StoreStats TieredBlockStore::Stats() {
  StoreStats stats;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& tier : tiers_) {
    stats.tiers.push_back(tier->Stats());
    stats.num_expired_swap_blocks += tier->num_expired_swap_blocks();
  }
  stats.num_misses = num_misses_.load();
  return stats;
}

}  // namespace gqa::kvstore
