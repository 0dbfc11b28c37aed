#include "kvstore/store/testing/fake_redis_cluster_client.h"

namespace gqa::kvstore::testing {

absl::Status FakeRedisClusterClient::CheckAvailableLocked() {
  if (unavailable_) return absl::UnavailableError("fake redis cluster is down");
  return absl::OkStatus();
}

void FakeRedisClusterClient::ExpireLocked() {
  const int64_t now_ns = env_->NowNanos();
  for (auto it = values_.begin(); it != values_.end();) {
    if (it->second.expiry_ns != 0 && now_ns >= it->second.expiry_ns) {
      it = values_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status FakeRedisClusterClient::Set(std::string_view key, std::string_view value,
                                         int64_t ttl_ms) {
  absl::MutexLock lock(&mu_);
  if (absl::Status status = CheckAvailableLocked(); !status.ok()) return status;
  Value& stored = values_[std::string(key)];
  stored.bytes.assign(value.data(), value.size());
  stored.expiry_ns = ttl_ms > 0 ? env_->NowNanos() + ttl_ms * 1'000'000 : 0;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> FakeRedisClusterClient::Get(std::string_view key) {
  absl::MutexLock lock(&mu_);
  if (absl::Status status = CheckAvailableLocked(); !status.ok()) return status;
  ExpireLocked();
  auto it = values_.find(key);
  if (it == values_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second.bytes);
}

absl::StatusOr<bool> FakeRedisClusterClient::Delete(std::string_view key) {
  absl::MutexLock lock(&mu_);
  if (absl::Status status = CheckAvailableLocked(); !status.ok()) return status;
  ExpireLocked();
  auto it = values_.find(key);
  if (it == values_.end()) return false;
  values_.erase(it);
  return true;
}

absl::StatusOr<bool> FakeRedisClusterClient::Exists(std::string_view key) {
  absl::MutexLock lock(&mu_);
  if (absl::Status status = CheckAvailableLocked(); !status.ok()) return status;
  ExpireLocked();
  return values_.find(key) != values_.end();
}

void FakeRedisClusterClient::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

void FakeRedisClusterClient::FlushAll() {
  absl::MutexLock lock(&mu_);
  values_.clear();
}

bool FakeRedisClusterClient::CorruptValue(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(key);
  if (it == values_.end() || it->second.bytes.empty()) return false;
  it->second.bytes[it->second.bytes.size() / 2] ^= 0x40;
  return true;
}

std::vector<std::string> FakeRedisClusterClient::Keys() {
  absl::MutexLock lock(&mu_);
  ExpireLocked();
  std::vector<std::string> keys;
  for (const auto& [key, value] : values_) keys.push_back(key);
  return keys;
}

std::optional<int64_t> FakeRedisClusterClient::PttlMs(const std::string& key) {
  absl::MutexLock lock(&mu_);
  ExpireLocked();
  auto it = values_.find(key);
  if (it == values_.end() || it->second.expiry_ns == 0) return std::nullopt;
  return (it->second.expiry_ns - env_->NowNanos()) / 1'000'000;
}

}  // namespace gqa::kvstore::testing
