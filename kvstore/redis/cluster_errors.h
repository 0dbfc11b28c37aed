// How the cluster client reads Redis error replies: MOVED/ASK redirections,
// the transient cluster states worth retrying (TRYAGAIN, CLUSTERDOWN, ...),
// and the absl::Status every other error reply becomes. Pure functions.
#ifndef GQA_KVSTORE_REDIS_CLUSTER_ERRORS_H_
#define GQA_KVSTORE_REDIS_CLUSTER_ERRORS_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kvstore/redis/redis_address.h"

namespace gqa::kvstore {

struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind = Kind::kMoved;
  int slot = 0;
  RedisAddress address;
};

// Parses "MOVED <slot> <host:port>" or "ASK <slot> <host:port>" (the error
// reply without its '-'). An empty host means `fallback_host`, the host of
// the node that replied. nullopt for any other or a malformed reply.
std::optional<Redirect> ParseRedirect(absl::string_view error, absl::string_view fallback_host);

// TRYAGAIN, CLUSTERDOWN, LOADING, MASTERDOWN: the node cannot serve right
// now but will soon; retry after a short backoff.
bool IsTransientClusterError(absl::string_view error);

// Any other error reply from `address` as a status: OOM is
// RESOURCE_EXHAUSTED, WRONGTYPE FAILED_PRECONDITION, NOAUTH/NOPERM
// PERMISSION_DENIED, everything else UNKNOWN; the message quotes the reply.
absl::Status StatusFromErrorReply(absl::string_view error, const RedisAddress& address);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_CLUSTER_ERRORS_H_
