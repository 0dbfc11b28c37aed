// Authenticator: whether a caller may use the kvstore, decided from what its
// connection presents: a service token ("authorization: Bearer <token>")
// checked against the tokens file, and/or the identities (CN and SANs) of an
// mTLS client certificate that the server's CA already verified, checked
// against an allow list. No credential: UNAUTHENTICATED; credentials of which
// none is accepted: PERMISSION_DENIED. An accepted caller may use every
// tenant: workers act for all tenants (kvstore.proto). No gRPC headers, so
// the decision is tested without a server. Immutable; thread-safe.
#ifndef GQA_KVSTORE_SERVICE_AUTHENTICATOR_H_
#define GQA_KVSTORE_SERVICE_AUTHENTICATOR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa::kvstore {

// What one call presents.
struct CallerCredentials {
  // The `authorization` metadata value, when sent.
  std::optional<std::string> authorization;
  // CN and SAN values of the client certificate, when the peer sent one and
  // the TLS handshake verified it against the client CA; empty otherwise.
  std::vector<std::string> certificate_identities;
};

class Authenticator {
 public:
  // Accepts these tokens and certificate identities. Both empty: every call
  // is accepted (a store without authentication, for tests and local runs).
  // INVALID_ARGUMENT for an empty token or one with whitespace.
  static absl::StatusOr<Authenticator> Create(const std::vector<std::string>& tokens,
                                              const std::vector<std::string>& identities);

  // Whether any credential is required.
  bool enabled() const { return !token_digests_.empty() || !identities_.empty(); }

  // OK, UNAUTHENTICATED (nothing usable presented) or PERMISSION_DENIED
  // (presented, not accepted), with a message saying which.
  absl::Status Check(const CallerCredentials& caller) const;

 private:
  Authenticator() = default;

  // SHA-256 of each token, so a lookup's timing says nothing about a token.
  absl::flat_hash_set<std::string> token_digests_;
  absl::flat_hash_set<std::string> identities_;
};

// The tokens of a tokens file: one per line; blank lines and lines starting
// with '#' are skipped; surrounding whitespace is trimmed. INVALID_ARGUMENT
// when the file holds no token or a token contains whitespace.
absl::StatusOr<std::vector<std::string>> ParseTokensFile(absl::string_view contents);

// "a,b,c" -> identities; INVALID_ARGUMENT for an empty item.
absl::StatusOr<std::vector<std::string>> ParseIdentityList(absl::string_view text);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_AUTHENTICATOR_H_
