#include "worker/service/kvstore_swap_tier.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log.h"

namespace gqa {
namespace {

// The store needs a tenant; requests sent straight to a worker may have none.
constexpr char kNoTenant[] = "_";

std::string RandomInstanceId() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) ^ device();
  return absl::StrFormat("%016x", value);
}

}  // namespace

KvStoreSwapTier::KvStoreSwapTier(std::unique_ptr<kvstore::KvStoreClient> client,
                                 KvStoreSwapTierOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      instance_id_(options_.instance_id.empty() ? RandomInstanceId() : options_.instance_id) {
  thread_ = std::thread([this] { Run(); });
}

KvStoreSwapTier::~KvStoreSwapTier() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

kvstore::BlockKey KvStoreSwapTier::KeyFor(const std::string& tenant, const std::string& swap_key,
                                          int64_t block_idx) const {
  kvstore::BlockKey key;
  key.tenant = tenant.empty() ? kNoTenant : tenant;
  key.kind = kvstore::BlockKind::kSwap;
  key.seq_id = absl::StrCat(instance_id_, "/", swap_key);
  key.block_idx = block_idx;
  key.shard = options_.geometry.Shard();
  key.dtype = options_.geometry.dtype;
  return key;
}

void KvStoreSwapTier::Store(const std::string& tenant, const std::string& swap_key,
                            std::vector<std::string> payloads) {
  Operation op;
  op.kind = Operation::Kind::kStore;
  op.tenant = tenant;
  op.swap_key = swap_key;
  op.payloads = std::move(payloads);
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(op));
}

void KvStoreSwapTier::Load(const std::string& tenant, const std::string& swap_key,
                           int64_t num_blocks) {
  Operation op;
  op.kind = Operation::Kind::kLoad;
  op.tenant = tenant;
  op.swap_key = swap_key;
  op.num_blocks = num_blocks;
  absl::MutexLock lock(&mu_);
  loads_[swap_key] = std::nullopt;
  queue_.push_back(std::move(op));
}

std::optional<absl::StatusOr<std::vector<std::string>>> KvStoreSwapTier::TakeLoaded(
    const std::string& swap_key) {
  absl::MutexLock lock(&mu_);
  auto it = loads_.find(swap_key);
  if (it == loads_.end()) {
    return absl::StatusOr<std::vector<std::string>>(absl::FailedPreconditionError(
        absl::StrCat("no load of swap key '", swap_key, "' was asked for")));
  }
  if (!it->second.has_value()) return std::nullopt;
  std::optional<absl::StatusOr<std::vector<std::string>>> result = std::move(it->second);
  loads_.erase(it);
  return result;
}

void KvStoreSwapTier::Discard(const std::string& tenant, const std::string& swap_key) {
  Operation op;
  op.kind = Operation::Kind::kDiscard;
  op.tenant = tenant;
  op.swap_key = swap_key;
  absl::MutexLock lock(&mu_);
  loads_.erase(swap_key);
  queue_.push_back(std::move(op));
}

void KvStoreSwapTier::SetOnLoaded(std::function<void()> on_loaded) {
  absl::MutexLock lock(&mu_);
  on_loaded_ = std::move(on_loaded);
}

bool KvStoreSwapTier::HasWork() const { return stopping_ || !queue_.empty(); }

void KvStoreSwapTier::Run() {
  while (true) {
    Operation op;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &KvStoreSwapTier::HasWork));
      if (stopping_) return;
      op = std::move(queue_.front());
      queue_.pop_front();
    }
    switch (op.kind) {
      case Operation::Kind::kStore:
        RunStore(op);
        break;
      case Operation::Kind::kLoad:
        RunLoad(op);
        break;
      case Operation::Kind::kDiscard:
        RunDiscard(op);
        break;
    }
  }
}

void KvStoreSwapTier::RunStore(Operation& op) {
  std::vector<kvstore::Block> blocks(op.payloads.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    blocks[i].key = KeyFor(op.tenant, op.swap_key, static_cast<int64_t>(i));
    blocks[i].layout = Layout();
    blocks[i].payload = std::move(op.payloads[i]);
  }
  std::vector<kvstore::PutOutcome> outcomes;
  const absl::Status put = client_->PutBlocks(blocks, options_.swap_ttl_ms, &outcomes);
  absl::MutexLock lock(&mu_);
  stored_blocks_ += static_cast<int64_t>(outcomes.size());
  if (!put.ok()) {
    ++failed_stores_;
    // The load that follows fails too and the sequence is recomputed.
    LOG(WARNING) << "swap-out of " << blocks.size() << " blocks to the kvstore failed: " << put;
  }
}

void KvStoreSwapTier::RunLoad(const Operation& op) {
  std::vector<kvstore::BlockKey> keys;
  for (int64_t i = 0; i < op.num_blocks; ++i) keys.push_back(KeyFor(op.tenant, op.swap_key, i));
  std::vector<kvstore::Block> blocks;
  absl::Status got = client_->GetBlocks(keys, &blocks);
  std::vector<std::string> payloads;
  for (kvstore::Block& block : blocks) {
    if (!got.ok()) break;
    if (!(block.layout == Layout())) {
      got = absl::DataLossError("a swapped block came back with another layout");
      break;
    }
    payloads.push_back(std::move(block.payload));
  }
  absl::StatusOr<std::vector<std::string>> result =
      got.ok() ? absl::StatusOr<std::vector<std::string>>(std::move(payloads))
               : absl::StatusOr<std::vector<std::string>>(got);
  absl::MutexLock lock(&mu_);
  auto it = loads_.find(op.swap_key);
  if (it == loads_.end()) return;  // discarded meanwhile
  it->second = std::move(result);
  if (on_loaded_) on_loaded_();
}

void KvStoreSwapTier::RunDiscard(const Operation& op) {
  kvstore::BlockKey key = KeyFor(op.tenant, op.swap_key, 0);
  const absl::StatusOr<int64_t> deleted = client_->DeleteSwapSequence(key.tenant, key.seq_id);
  if (!deleted.ok()) {
    LOG(WARNING) << "deleting swapped blocks from the kvstore failed (they expire after "
                 << options_.swap_ttl_ms << " ms): " << deleted.status();
  }
}

int64_t KvStoreSwapTier::num_stored_blocks() const {
  absl::MutexLock lock(&mu_);
  return stored_blocks_;
}

int64_t KvStoreSwapTier::num_failed_stores() const {
  absl::MutexLock lock(&mu_);
  return failed_stores_;
}

}  // namespace gqa
