#include "kvstore/service/testing/memory_block_store.h"

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"

namespace gqa::kvstore {
namespace {

void AppendU32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

void AppendString(std::string* out, const std::string& value) {
  AppendU32(out, static_cast<uint32_t>(value.size()));
  out->append(value);
}

// The swap blocks of (tenant, seq_id) share this prefix of their keys.
std::string SwapSequencePrefix(const std::string& tenant, const std::string& seq_id) {
  std::string out;
  out.push_back('S');
  AppendString(&out, tenant);
  AppendString(&out, seq_id);
  return out;
}

// (tenant, id, shard, dtype) as one ordered string, length-prefixed so that
// no two keys collide.
std::string EncodeKey(const BlockKey& key) {
  std::string out;
  if (key.kind == BlockKind::kPrefix) {
    out.push_back('P');
    AppendString(&out, key.tenant);
    AppendString(&out, key.logical_id);
  } else {
    out = SwapSequencePrefix(key.tenant, key.seq_id);
    AppendU32(&out, static_cast<uint32_t>(static_cast<uint64_t>(key.block_idx) >> 32));
    AppendU32(&out, static_cast<uint32_t>(key.block_idx));
  }
  AppendU32(&out, static_cast<uint32_t>(key.shard.first_kv_head));
  AppendU32(&out, static_cast<uint32_t>(key.shard.num_kv_heads));
  out.push_back(static_cast<char>(key.dtype));
  return out;
}

}  // namespace

MemoryBlockStore::MemoryBlockStore(MemoryBlockStoreOptions options)
    : capacity_bytes_(options.capacity_bytes),
      env_(options.env != nullptr ? options.env : Env::Default()) {}

int64_t MemoryBlockStore::RecordBytes(const Block& block) {
  return static_cast<int64_t>(block.payload.size() + block.key.tenant.size() +
                              block.key.logical_id.size() + block.key.seq_id.size()) +
         kRecordOverheadBytes;
}

void MemoryBlockStore::EraseLocked(std::map<std::string, Entry>::iterator it) {
  used_bytes_ -= it->second.bytes;
  if (it->second.block->key.kind == BlockKind::kPrefix) {
    prefix_bytes_ -= it->second.bytes;
    --num_prefix_blocks_;
    lru_.erase(it->second.lru);
  } else {
    expiry_.erase({it->second.expires_ns, it->first});
  }
  entries_.erase(it);
}

void MemoryBlockStore::ExpireLocked(int64_t now_ns) {
  while (!expiry_.empty() && expiry_.begin()->first <= now_ns) {
    auto it = entries_.find(expiry_.begin()->second);
    EraseLocked(it);
    ++num_expired_;
  }
}

bool MemoryBlockStore::MakeRoomLocked(int64_t bytes) {
  if (used_bytes_ - prefix_bytes_ + bytes > capacity_bytes_) return false;
  while (used_bytes_ + bytes > capacity_bytes_) {
    EraseLocked(entries_.find(lru_.front()));
    ++num_evictions_;
  }
  return true;
}

absl::StatusOr<PutOutcome> MemoryBlockStore::Put(Block block, int64_t swap_ttl_ms) {
  const int64_t bytes = RecordBytes(block);
  if (bytes > capacity_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a block of ", bytes, " bytes is larger than the store's capacity of ", capacity_bytes_,
        " bytes"));
  }
  std::string key = EncodeKey(block.key);
  const bool prefix = block.key.kind == BlockKind::kPrefix;
  auto shared = std::make_shared<const Block>(std::move(block));
  absl::MutexLock lock(&mu_);
  const int64_t now_ns = env_->NowNanos();
  ExpireLocked(now_ns);
  auto it = entries_.find(key);
  if (prefix) {
    if (it != entries_.end()) {
      lru_.splice(lru_.end(), lru_, it->second.lru);
      return PutOutcome::kAlreadyPresent;
    }
    if (!MakeRoomLocked(bytes)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no room for a prefix block of ", bytes, " bytes: swap blocks hold ",
          used_bytes_ - prefix_bytes_, " of the store's ", capacity_bytes_, " bytes"));
    }
    Entry entry;
    entry.block = std::move(shared);
    entry.bytes = bytes;
    entry.lru = lru_.insert(lru_.end(), key);
    entries_.emplace(std::move(key), std::move(entry));
    used_bytes_ += bytes;
    prefix_bytes_ += bytes;
    ++num_prefix_blocks_;
    return PutOutcome::kStored;
  }
  const int64_t replaced = it != entries_.end() ? it->second.bytes : 0;
  if (!MakeRoomLocked(bytes - replaced)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "swap space is full: swap blocks hold ", used_bytes_ - prefix_bytes_, " of the store's ",
        capacity_bytes_, " bytes and a swap block of ", bytes,
        " bytes does not fit; delete finished sequences' blocks or retry later"));
  }
  if (it != entries_.end()) EraseLocked(it);
  Entry entry;
  entry.block = std::move(shared);
  entry.bytes = bytes;
  entry.expires_ns = now_ns + swap_ttl_ms * 1000000;
  expiry_.emplace(entry.expires_ns, key);
  entries_.emplace(std::move(key), std::move(entry));
  used_bytes_ += bytes;
  return PutOutcome::kStored;
}

absl::StatusOr<Block> MemoryBlockStore::Get(const BlockKey& key) {
  num_get_calls_.fetch_add(1);
  const std::string encoded = EncodeKey(key);
  std::shared_ptr<const Block> found;
  {
    absl::MutexLock lock(&mu_);
    ExpireLocked(env_->NowNanos());
    auto it = entries_.find(encoded);
    if (it != entries_.end()) {
      found = it->second.block;
      if (key.kind == BlockKind::kPrefix) lru_.splice(lru_.end(), lru_, it->second.lru);
    }
  }
  if (found == nullptr) {
    num_misses_.fetch_add(1);
    return absl::NotFoundError("no such block");
  }
  if (crc32c::Value(found->payload) != found->payload_crc32c) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(encoded);
    if (it != entries_.end() && it->second.block == found) EraseLocked(it);
    num_corrupt_.fetch_add(1);
    num_misses_.fetch_add(1);
    return absl::NotFoundError("the stored block failed its checksum and was dropped");
  }
  num_hits_.fetch_add(1);
  return *found;
}

absl::StatusOr<int64_t> MemoryBlockStore::Lookup(const std::string& tenant, const KvShard& shard,
                                                 DType dtype,
                                                 absl::Span<const std::string> logical_ids) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kPrefix;
  key.shard = shard;
  key.dtype = dtype;
  absl::MutexLock lock(&mu_);
  int64_t present = 0;
  for (const std::string& id : logical_ids) {
    key.logical_id = id;
    if (entries_.count(EncodeKey(key)) == 0) break;
    ++present;
  }
  return present;
}

absl::StatusOr<int64_t> MemoryBlockStore::Delete(absl::Span<const BlockKey> keys) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(env_->NowNanos());
  int64_t deleted = 0;
  for (const BlockKey& key : keys) {
    auto it = entries_.find(EncodeKey(key));
    if (it == entries_.end()) continue;
    EraseLocked(it);
    ++deleted;
  }
  return deleted;
}

absl::StatusOr<int64_t> MemoryBlockStore::DeleteSwapSequence(const std::string& tenant,
                                                             const std::string& seq_id) {
  const std::string prefix = SwapSequencePrefix(tenant, seq_id);
  absl::MutexLock lock(&mu_);
  ExpireLocked(env_->NowNanos());
  int64_t deleted = 0;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    EraseLocked(it++);
    ++deleted;
  }
  return deleted;
}

StoreStats MemoryBlockStore::Stats() {
  absl::MutexLock lock(&mu_);
  ExpireLocked(env_->NowNanos());
  TierStats tier;
  tier.tier = TierKind::kMemory;
  tier.capacity_bytes = capacity_bytes_;
  tier.used_bytes = used_bytes_;
  tier.num_prefix_blocks = num_prefix_blocks_;
  tier.num_swap_blocks = static_cast<int64_t>(entries_.size()) - num_prefix_blocks_;
  tier.num_hits = num_hits_.load();
  tier.num_evictions = num_evictions_;
  tier.num_corrupt_dropped = num_corrupt_.load();
  StoreStats stats;
  stats.tiers.push_back(tier);
  stats.num_misses = num_misses_.load();
  stats.num_expired_swap_blocks = num_expired_;
  return stats;
}

absl::Status MemoryBlockStore::CorruptForTesting(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(EncodeKey(key));
  if (it == entries_.end()) return absl::NotFoundError("no such block");
  auto corrupt = std::make_shared<Block>(*it->second.block);
  if (!corrupt->payload.empty()) corrupt->payload[0] = static_cast<char>(~corrupt->payload[0]);
  it->second.block = std::move(corrupt);
  return absl::OkStatus();
}

}  // namespace gqa::kvstore
