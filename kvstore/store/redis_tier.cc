#include "kvstore/store/redis_tier.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/status.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/record_format.h"

namespace gqa::kvstore {
namespace {

// A manifest: the Redis keys of a sequence's swap blocks with their expiry.
//   u32 count, count x { i64 expiry_unix_ns, u32 key_len, key }
struct ManifestEntry {
  std::string redis_key;
  int64_t expiry_unix_ns = 0;
};

std::string EncodeManifest(const std::vector<ManifestEntry>& entries) {
  std::string out;
  PutFixed32(&out, static_cast<uint32_t>(entries.size()));
  for (const ManifestEntry& entry : entries) {
    PutFixed64(&out, static_cast<uint64_t>(entry.expiry_unix_ns));
    PutFixed32(&out, static_cast<uint32_t>(entry.redis_key.size()));
    out.append(entry.redis_key);
  }
  return out;
}

// nullopt when malformed.
std::optional<std::vector<ManifestEntry>> DecodeManifest(absl::string_view in) {
  if (in.size() < 4) return std::nullopt;
  const uint32_t count = GetFixed32(in.data());
  in.remove_prefix(4);
  std::vector<ManifestEntry> entries;
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < 12) return std::nullopt;
    ManifestEntry entry;
    entry.expiry_unix_ns = static_cast<int64_t>(GetFixed64(in.data()));
    const uint32_t len = GetFixed32(in.data() + 8);
    in.remove_prefix(12);
    if (in.size() < len) return std::nullopt;
    entry.redis_key.assign(in.data(), len);
    in.remove_prefix(len);
    entries.push_back(std::move(entry));
  }
  if (!in.empty()) return std::nullopt;
  return entries;
}

std::string SequenceTag(absl::string_view tenant, absl::string_view seq_id) {
  return DigestToHex(Sha256(SwapSequencePrefix(tenant, seq_id))).substr(0, 32);
}

// Milliseconds from now until `deadline_ns`, rounded up, at least 1.
int64_t TtlMs(int64_t deadline_ns, int64_t now_ns) {
  const int64_t remaining_ns = deadline_ns - now_ns;
  return remaining_ns <= 0 ? 1 : (remaining_ns + 999'999) / 1'000'000;
}

absl::Status RedisError(const absl::Status& status) { return Annotate(status, "redis tier"); }

}  // namespace

RedisTier::RedisTier(RedisTierOptions options)
    : client_(options.client),
      env_(options.env),
      key_prefix_(std::move(options.key_prefix)),
      capacity_bytes_(options.capacity_bytes) {}

absl::StatusOr<std::unique_ptr<RedisTier>> RedisTier::Create(RedisTierOptions options) {
  if (options.client == nullptr || options.env == nullptr) {
    return absl::InvalidArgumentError("the redis tier needs a client and an Env");
  }
  if (absl::StrContains(options.key_prefix, '{') || absl::StrContains(options.key_prefix, '}')) {
    return absl::InvalidArgumentError(absl::StrCat("redis key_prefix '", options.key_prefix,
                                                   "' must not contain '{' or '}' (hash tags)"));
  }
  return std::unique_ptr<RedisTier>(new RedisTier(std::move(options)));
}

std::string RedisTier::BlockRedisKey(const BlockKey& key) const {
  const std::string digest = DigestToHex(Sha256(EncodeBlockKey(key)));
  if (key.kind == BlockKind::kPrefix) return absl::StrCat(key_prefix_, "b:", digest);
  return absl::StrCat(key_prefix_, "{", SequenceTag(key.tenant, key.seq_id), "}:b:", digest);
}

std::string RedisTier::ManifestRedisKey(absl::string_view tenant, absl::string_view seq_id) const {
  return absl::StrCat(key_prefix_, "{", SequenceTag(tenant, seq_id), "}:m");
}

void RedisTier::Track(const std::string& redis_key, Tracked tracked) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = tracked_.try_emplace(redis_key, tracked);
  if (!inserted) {
    used_bytes_ -= it->second.bytes;
    (it->second.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) -= 1;
    if (it->second.expiry_ns != 0) expiries_.erase({it->second.expiry_ns, redis_key});
    it->second = tracked;
  }
  used_bytes_ += tracked.bytes;
  (tracked.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) += 1;
  if (tracked.expiry_ns != 0) expiries_.insert({tracked.expiry_ns, redis_key});
}

void RedisTier::Untrack(const std::string& redis_key) {
  absl::MutexLock lock(&mu_);
  auto it = tracked_.find(redis_key);
  if (it == tracked_.end()) return;
  used_bytes_ -= it->second.bytes;
  (it->second.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) -= 1;
  if (it->second.expiry_ns != 0) expiries_.erase({it->second.expiry_ns, redis_key});
  tracked_.erase(it);
}

void RedisTier::UntrackMissing(const std::string& redis_key) {
  {
    absl::MutexLock lock(&mu_);
    auto it = tracked_.find(redis_key);
    if (it == tracked_.end()) return;
    const bool expired = it->second.expiry_ns != 0 && env_->NowNanos() >= it->second.expiry_ns;
    (expired ? counters_.expired : counters_.evictions).fetch_add(1);
  }
  Untrack(redis_key);
}

absl::Status RedisTier::AddToManifest(const BlockKey& key, const std::string& redis_key,
                                      int64_t expiry_unix_ns) {
  const std::string manifest_key = ManifestRedisKey(key.tenant, key.seq_id);
  absl::MutexLock lock(&manifest_mu_);
  absl::StatusOr<std::optional<std::string>> value = client_->Get(manifest_key);
  if (!value.ok()) return RedisError(value.status());
  std::vector<ManifestEntry> entries;
  if (value->has_value()) {
    std::optional<std::vector<ManifestEntry>> decoded = DecodeManifest(**value);
    if (decoded.has_value()) {
      entries = *std::move(decoded);
    } else {
      LOG(WARNING) << "redis tier: malformed manifest key=" << manifest_key << "; rewriting it";
    }
  }
  const int64_t now_unix_ns = env_->NowUnixNanos();
  std::vector<ManifestEntry> kept;
  int64_t max_expiry_unix_ns = expiry_unix_ns;
  for (ManifestEntry& entry : entries) {
    if (entry.expiry_unix_ns <= now_unix_ns || entry.redis_key == redis_key) continue;
    max_expiry_unix_ns = std::max(max_expiry_unix_ns, entry.expiry_unix_ns);
    kept.push_back(std::move(entry));
  }
  kept.push_back({redis_key, expiry_unix_ns});
  return RedisError(
      client_->Set(manifest_key, EncodeManifest(kept), TtlMs(max_expiry_unix_ns, now_unix_ns)));
}

absl::StatusOr<PutOutcome> RedisTier::Put(BlockRef block, int64_t expiry_ns) {
  const BlockKey& key = block->key;
  const std::string redis_key = BlockRedisKey(key);
  if (key.kind == BlockKind::kPrefix) {
    absl::StatusOr<bool> exists = client_->Exists(redis_key);
    if (!exists.ok()) return RedisError(exists.status());
    if (*exists) return PutOutcome::kAlreadyPresent;
    const std::string record = EncodeBlockRecord(*block, 0);
    RETURN_IF_ERROR(RedisError(client_->Set(redis_key, record, 0)));
    Track(redis_key, {BlockKind::kPrefix, static_cast<int64_t>(record.size()), 0});
    return PutOutcome::kStored;
  }
  const int64_t now_ns = env_->NowNanos();
  const int64_t expiry_unix_ns = env_->NowUnixNanos() + (expiry_ns - now_ns);
  const std::string record = EncodeBlockRecord(*block, expiry_unix_ns);
  RETURN_IF_ERROR(RedisError(client_->Set(redis_key, record, TtlMs(expiry_ns, now_ns))));
  if (absl::Status status = AddToManifest(key, redis_key, expiry_unix_ns); !status.ok()) {
    // Unlisted, DeleteSwapSequence could not find it: take it back.
    (void)client_->Delete(redis_key);
    return status;
  }
  Track(redis_key, {BlockKind::kSwap, static_cast<int64_t>(record.size()), expiry_ns});
  return PutOutcome::kStored;
}

absl::StatusOr<Block> RedisTier::Get(const BlockKey& key) {
  const std::string redis_key = BlockRedisKey(key);
  absl::StatusOr<std::optional<std::string>> value = client_->Get(redis_key);
  if (!value.ok()) return RedisError(value.status());
  if (!value->has_value()) {
    UntrackMissing(redis_key);
    return absl::NotFoundError("not in the redis tier");
  }
  absl::StatusOr<DecodedRecord> decoded = DecodeBlockRecord(**value);
  if (!decoded.ok() || !(decoded->block.key == key)) {
    LOG(ERROR) << "redis tier dropped a record failing verification key=" << redis_key << ": "
               << (decoded.ok() ? "key mismatch" : decoded.status().message());
    (void)client_->Delete(redis_key);
    Untrack(redis_key);
    counters_.corrupt_dropped.fetch_add(1);
    return absl::NotFoundError("a redis tier record failed its checksum and was dropped");
  }
  if (decoded->expiry_unix_ns != 0 && env_->NowUnixNanos() >= decoded->expiry_unix_ns) {
    return absl::NotFoundError("expired in the redis tier");  // Redis drops it soon
  }
  counters_.hits.fetch_add(1);
  return std::move(decoded->block);
}

absl::StatusOr<bool> RedisTier::Contains(const BlockKey& key) {
  const std::string redis_key = BlockRedisKey(key);
  absl::StatusOr<bool> exists = client_->Exists(redis_key);
  if (!exists.ok()) return RedisError(exists.status());
  if (!*exists) UntrackMissing(redis_key);
  return *exists;
}

absl::StatusOr<bool> RedisTier::Delete(const BlockKey& key) {
  const std::string redis_key = BlockRedisKey(key);
  absl::StatusOr<bool> existed = client_->Delete(redis_key);
  if (!existed.ok()) return RedisError(existed.status());
  Untrack(redis_key);
  return *existed;
}

absl::StatusOr<int64_t> RedisTier::DeleteSwapSequence(absl::string_view tenant,
                                                      absl::string_view seq_id) {
  const std::string manifest_key = ManifestRedisKey(tenant, seq_id);
  absl::MutexLock lock(&manifest_mu_);
  absl::StatusOr<std::optional<std::string>> value = client_->Get(manifest_key);
  if (!value.ok()) return RedisError(value.status());
  absl::btree_set<std::string> redis_keys;
  if (value->has_value()) {
    if (std::optional<std::vector<ManifestEntry>> entries = DecodeManifest(**value)) {
      for (ManifestEntry& entry : *entries) redis_keys.insert(std::move(entry.redis_key));
    }
  }
  {
    // Also what this process wrote, in case a manifest update was lost.
    const std::string tag_prefix =
        absl::StrCat(key_prefix_, "{", SequenceTag(tenant, seq_id), "}:b:");
    absl::MutexLock tracked_lock(&mu_);
    for (auto it = tracked_.lower_bound(tag_prefix);
         it != tracked_.end() && absl::StartsWith(it->first, tag_prefix); ++it) {
      redis_keys.insert(it->first);
    }
  }
  int64_t num_deleted = 0;
  for (const std::string& redis_key : redis_keys) {
    absl::StatusOr<bool> existed = client_->Delete(redis_key);
    if (!existed.ok()) return RedisError(existed.status());
    num_deleted += *existed ? 1 : 0;
    Untrack(redis_key);
  }
  absl::StatusOr<bool> manifest_deleted = client_->Delete(manifest_key);
  if (!manifest_deleted.ok()) return RedisError(manifest_deleted.status());
  return num_deleted;
}

int64_t RedisTier::SweepExpired() {
  const int64_t now_ns = env_->NowNanos();
  std::vector<std::string> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = expiries_.begin(); it != expiries_.end() && it->first <= now_ns; ++it) {
      expired.push_back(it->second);
    }
  }
  for (const std::string& redis_key : expired) Untrack(redis_key);
  counters_.expired.fetch_add(static_cast<int64_t>(expired.size()));
  return static_cast<int64_t>(expired.size());
}

TierStats RedisTier::Stats() {
  TierStats stats;
  stats.tier = TierKind::kRedis;
  stats.capacity_bytes = capacity_bytes_;
  {
    absl::MutexLock lock(&mu_);
    stats.used_bytes = used_bytes_;
    stats.num_prefix_blocks = num_prefix_blocks_;
    stats.num_swap_blocks = num_swap_blocks_;
  }
  counters_.FillStats(stats);
  return stats;
}

}  // namespace gqa::kvstore
