// ApiKeys: who may call the router, and as which tenant. A key file holds one
// key per line with its grants; the tenant (which scopes prefix-cache
// sharing and kvstore blocks) always comes from the key, never from a
// request. Without a key file the router is open: every call is tenant
// "default" (for a local cluster on loopback). Immutable after Parse;
// thread-safe.
//
// Key file lines (blank lines and "#" comments ignored):
//   <key> tenant=<name> [max_priority=<-100..100>] [max_streams=<n>] [models=<a,b>]
#ifndef GQA_ROUTER_API_KEYS_H_
#define GQA_ROUTER_API_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa {

struct ApiKeyGrant {
  std::string key_name;  // for logs and limits: the key's first 4 characters and its line
  std::string tenant;
  int32_t max_priority = 100;
  int64_t max_streams = 0;          // concurrent Generate/Complete calls; 0: no per-key limit
  std::vector<std::string> models;  // empty: every model

  bool MayUse(absl::string_view model) const;
};

class ApiKeys {
 public:
  // The open router: every caller is tenant "default" with every grant.
  static ApiKeys Open();

  // INVALID_ARGUMENT naming `source` and the line for a malformed line, a
  // duplicate key or a missing tenant.
  static absl::StatusOr<ApiKeys> Parse(absl::string_view text, absl::string_view source);

  // `authorization` is the call's "authorization" metadata (nullopt when
  // absent). UNAUTHENTICATED when it is missing, not "Bearer <key>", or an
  // unknown key (the message never echoes the key).
  absl::StatusOr<const ApiKeyGrant*> Authenticate(
      std::optional<absl::string_view> authorization) const;

  bool open() const { return open_; }

 private:
  bool open_ = false;
  ApiKeyGrant open_grant_;
  absl::flat_hash_map<std::string, ApiKeyGrant> keys_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_API_KEYS_H_
