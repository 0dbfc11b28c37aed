// "host:port" addresses of Redis nodes, as given in RedisClusterOptions and
// as Redis writes them in CLUSTER SLOTS and MOVED/ASK replies. IPv6 hosts
// are bracketed: "[::1]:6379". Used by RedisConnection and the cluster
// client. Thread-safe (plain values).
#ifndef GQA_KVSTORE_REDIS_REDIS_ADDRESS_H_
#define GQA_KVSTORE_REDIS_REDIS_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa::kvstore {

struct RedisAddress {
  std::string host;  // a name or an IP literal, without brackets
  int port = 0;      // in [1, 65535]

  // "host:port", with brackets around an IPv6 host.
  std::string ToString() const;
  bool operator==(const RedisAddress&) const = default;
};

// Parses "host:port" or "[v6]:port". INVALID_ARGUMENT (quoting the input)
// for an empty host, a missing or non-numeric port, or one out of range.
absl::StatusOr<RedisAddress> ParseRedisAddress(absl::string_view text);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_REDIS_ADDRESS_H_
