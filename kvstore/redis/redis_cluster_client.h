// A client for a Redis Cluster, written for the kvstore's Redis tier:
// Debian's hiredis has no cluster support, so this client speaks RESP2 over
// its own TCP connections, routes each command by the key's hash slot
// (CRC16/XMODEM of the key or of its {hash tag}, mod 16384), learns the slot
// map from CLUSTER SLOTS, and follows MOVED (refresh the map, retry) and ASK
// (ASKING on the named node, once) redirections.
//
// Values are binary-safe. Thread-safe: any number of threads may call it.
#ifndef GQA_KVSTORE_REDIS_REDIS_CLUSTER_CLIENT_H_
#define GQA_KVSTORE_REDIS_REDIS_CLUSTER_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gqa::kvstore {

struct RedisClusterOptions {
  // "host:port" of one or more cluster nodes; the rest are discovered.
  std::vector<std::string> seed_addresses;
  absl::Duration connect_timeout = absl::Seconds(2);
  // Per command, including redirections.
  absl::Duration command_timeout = absl::Seconds(5);
  // MOVED/ASK hops per command before UNAVAILABLE.
  int max_redirections = 5;
};

class RedisClusterClient {
 public:
  // Connects to a seed and loads the slot map. UNAVAILABLE when no seed
  // answers or the cluster is not serving every slot; INVALID_ARGUMENT for
  // a malformed address.
  static absl::StatusOr<std::unique_ptr<RedisClusterClient>> Connect(
      RedisClusterOptions options);

  virtual ~RedisClusterClient() = default;

  // SET key value, with PX ttl_ms when ttl_ms > 0.
  virtual absl::Status Set(std::string_view key, std::string_view value,
                           int64_t ttl_ms = 0) = 0;
  // GET: the value, or std::nullopt when the key is absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  // DEL: whether the key existed.
  virtual absl::StatusOr<bool> Delete(std::string_view key) = 0;
  // EXISTS.
  virtual absl::StatusOr<bool> Exists(std::string_view key) = 0;

  // The cluster hash slot of `key`, in [0, 16384).
  static uint16_t HashSlot(std::string_view key);
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_REDIS_CLUSTER_CLIENT_H_
