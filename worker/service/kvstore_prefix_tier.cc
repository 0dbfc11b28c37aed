#include "worker/service/kvstore_prefix_tier.h"

#include "core/log.h"
#include "kvstore/store/fp8_transcode.h"

namespace gqa {
namespace {

constexpr size_t kMaxBlocksPerPut = 16;

}  // namespace

KvStorePrefixTier::KvStorePrefixTier(std::unique_ptr<kvstore::KvStoreClient> client,
                                     KvStorePrefixTierOptions options)
    : client_(std::move(client)), options_(options) {
  uploader_ = std::thread([this] { UploadLoop(); });
}

KvStorePrefixTier::~KvStorePrefixTier() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  uploader_.join();
}

kvstore::BlockKey KvStorePrefixTier::KeyFor(const std::string& tenant, const BlockId& id) const {
  kvstore::BlockKey key;
  key.tenant = tenant;
  key.kind = kvstore::BlockKind::kPrefix;
  key.logical_id.assign(reinterpret_cast<const char*>(id.data()), id.size());
  key.shard = options_.geometry.Shard();
  key.dtype = StoredDtype();
  return key;
}

std::vector<std::string> KvStorePrefixTier::Fetch(const std::string& tenant,
                                                  absl::Span<const BlockId> chain) {
  std::vector<std::string> payloads;
  if (chain.empty() || tenant.empty()) return payloads;
  std::vector<std::string> ids;
  for (const BlockId& id : chain) ids.emplace_back(reinterpret_cast<const char*>(id.data()), id.size());
  absl::StatusOr<int64_t> present =
      client_->Lookup(tenant, options_.geometry.Shard(), StoredDtype(), ids);
  if (!present.ok()) {
    LOG(WARNING) << "kvstore lookup failed (computing the prefix instead): " << present.status();
    return payloads;
  }
  if (*present == 0) return payloads;
  std::vector<kvstore::BlockKey> keys;
  for (int64_t i = 0; i < *present; ++i) keys.push_back(KeyFor(tenant, chain[i]));
  std::vector<kvstore::Block> blocks;
  const absl::Status got = client_->GetBlocks(keys, &blocks);
  if (!got.ok() && got.code() != absl::StatusCode::kNotFound) {
    LOG(WARNING) << "kvstore get failed (computing the prefix instead): " << got;
  }
  for (kvstore::Block& block : blocks) {
    if (!(block.layout == Layout())) break;  // not this model's geometry: never install it
    if (Transcodes()) {
      absl::StatusOr<std::string> payload = kvstore::DequantizePayloadFromFp8(
          block.payload, Layout(), options_.geometry.num_kv_heads, StoredDtype(), options_.geometry.dtype);
      if (!payload.ok()) break;
      block.payload = *std::move(payload);
    }
    payloads.push_back(std::move(block.payload));
  }
  return payloads;
}

void KvStorePrefixTier::Publish(const std::string& tenant, const BlockId& id, std::string payload) {
  kvstore::Block block;
  block.key = KeyFor(tenant, id);
  block.layout = Layout();
  block.payload = std::move(payload);  // in the cache's dtype; the uploader transcodes
  absl::MutexLock lock(&mu_);
  const int64_t bytes = static_cast<int64_t>(block.payload.size());
  if (queued_bytes_ + bytes > options_.max_queued_bytes) {
    ++dropped_;
    return;
  }
  queued_bytes_ += bytes;
  queue_.push_back(std::move(block));
}

bool KvStorePrefixTier::HasWork() const { return stopping_ || !queue_.empty(); }

void KvStorePrefixTier::UploadLoop() {
  while (true) {
    std::vector<kvstore::Block> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &KvStorePrefixTier::HasWork));
      if (stopping_) return;
      while (!queue_.empty() && batch.size() < kMaxBlocksPerPut) {
        queued_bytes_ -= static_cast<int64_t>(queue_.front().payload.size());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (Transcodes()) {  // off the engine thread
      for (kvstore::Block& block : batch) {
        absl::StatusOr<std::string> fp8 = kvstore::QuantizePayloadToFp8(
            block.payload, Layout(), options_.geometry.num_kv_heads, options_.geometry.dtype, StoredDtype());
        if (!fp8.ok()) {
          LOG(WARNING) << "cannot store a prefix block as " << DTypeName(StoredDtype()) << ": "
                       << fp8.status();
          batch.clear();
          break;
        }
        block.payload = *std::move(fp8);
      }
      if (batch.empty()) continue;
    }
    std::vector<kvstore::PutOutcome> outcomes;
    const absl::Status put = client_->PutBlocks(batch, /*swap_ttl_ms=*/0, &outcomes);
    absl::MutexLock lock(&mu_);
    uploaded_ += static_cast<int64_t>(outcomes.size());
    if (!put.ok()) {
      dropped_ += static_cast<int64_t>(batch.size() - outcomes.size());
      LOG(WARNING) << "kvstore upload of " << batch.size() << " prefix blocks: " << put;
    }
  }
}

int64_t KvStorePrefixTier::num_uploaded() const {
  absl::MutexLock lock(&mu_);
  return uploaded_;
}

int64_t KvStorePrefixTier::num_dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace gqa
