#include "kvstore/redis/cluster_errors.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kvstore/redis/hash_slot.h"

namespace gqa::kvstore {
namespace {

// The first word of an error reply: its error code by Redis convention.
absl::string_view ErrorCode(absl::string_view error) { return error.substr(0, error.find(' ')); }

}  // namespace

std::optional<Redirect> ParseRedirect(absl::string_view error, absl::string_view fallback_host) {
  const std::vector<absl::string_view> parts = absl::StrSplit(error, ' ');
  if (parts.size() != 3) return std::nullopt;
  Redirect redirect;
  if (parts[0] == "MOVED") {
    redirect.kind = Redirect::Kind::kMoved;
  } else if (parts[0] == "ASK") {
    redirect.kind = Redirect::Kind::kAsk;
  } else {
    return std::nullopt;
  }
  if (!absl::SimpleAtoi(parts[1], &redirect.slot) || redirect.slot < 0 ||
      redirect.slot >= kNumHashSlots) {
    return std::nullopt;
  }
  std::string address(parts[2]);
  if (absl::StartsWith(address, ":")) address = absl::StrCat(fallback_host, address);
  absl::StatusOr<RedisAddress> parsed = ParseRedisAddress(address);
  if (!parsed.ok()) return std::nullopt;
  redirect.address = *std::move(parsed);
  return redirect;
}

bool IsTransientClusterError(absl::string_view error) {
  const absl::string_view code = ErrorCode(error);
  return code == "TRYAGAIN" || code == "CLUSTERDOWN" || code == "LOADING" || code == "MASTERDOWN";
}

absl::Status StatusFromErrorReply(absl::string_view error, const RedisAddress& address) {
  const std::string message = absl::StrCat("redis node ", address.ToString(), " replied: ", error);
  const absl::string_view code = ErrorCode(error);
  if (code == "OOM") return absl::ResourceExhaustedError(message);
  if (code == "WRONGTYPE") return absl::FailedPreconditionError(message);
  if (code == "NOAUTH" || code == "NOPERM") return absl::PermissionDeniedError(message);
  return absl::UnknownError(message);
}

}  // namespace gqa::kvstore
