// Test-only: an in-memory RedisClusterClient with PX expiry on an Env clock,
// and knobs to make it unavailable, lose everything, or corrupt a value.
// Thread-safe.
#ifndef GQA_KVSTORE_STORE_TESTING_FAKE_REDIS_CLUSTER_CLIENT_H_
#define GQA_KVSTORE_STORE_TESTING_FAKE_REDIS_CLUSTER_CLIENT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "kvstore/redis/redis_cluster_client.h"

namespace gqa::kvstore::testing {

class FakeRedisClusterClient : public RedisClusterClient {
 public:
  // REQUIRES: `env` (the clock of PX expiry) outlives the client.
  explicit FakeRedisClusterClient(Env* env) : env_(env) {}

  absl::Status Set(std::string_view key, std::string_view value, int64_t ttl_ms) override;
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::StatusOr<bool> Delete(std::string_view key) override;
  absl::StatusOr<bool> Exists(std::string_view key) override;

  // Every command fails UNAVAILABLE while set.
  void SetUnavailable(bool unavailable);
  // Loses every key, as a restarted cache node would.
  void FlushAll();
  // Flips a byte in the middle of a value; false when absent.
  bool CorruptValue(const std::string& key);
  // Live keys, sorted.
  std::vector<std::string> Keys();
  // The remaining PX of a key in ms; nullopt when absent or without TTL.
  std::optional<int64_t> PttlMs(const std::string& key);

 private:
  struct Value {
    std::string bytes;
    int64_t expiry_ns = 0;  // 0: none
  };
  absl::Status CheckAvailableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const env_;
  absl::Mutex mu_;
  std::map<std::string, Value, std::less<>> values_ ABSL_GUARDED_BY(mu_);
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gqa::kvstore::testing

#endif  // GQA_KVSTORE_STORE_TESTING_FAKE_REDIS_CLUSTER_CLIENT_H_
