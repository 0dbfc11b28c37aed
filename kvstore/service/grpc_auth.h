// The gRPC side of the kvstore's authentication: server credentials built
// from PEM files (plaintext, TLS, or TLS that asks for a client certificate
// and verifies it against a CA), and what one call presents (its
// `authorization` metadata and its verified certificate's CN and SANs), for
// Authenticator::Check. Used by KvStoreService and gqa-kvstore. Thread-safe.
#ifndef GQA_KVSTORE_SERVICE_GRPC_AUTH_H_
#define GQA_KVSTORE_SERVICE_GRPC_AUTH_H_

#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "kvstore/service/authenticator.h"

namespace gqa::kvstore {

struct ServerTlsFiles {
  std::string cert_path;       // PEM certificate chain; empty: plaintext
  std::string key_path;        // PEM private key of cert_path
  std::string client_ca_path;  // PEM CA of client certificates; empty: none asked for
};

// Plaintext when files.cert_path is empty; otherwise TLS, and with a client
// CA the server asks every client for a certificate and verifies one that is
// sent (a client without one can still present a token, and one with a
// certificate the CA did not sign fails the handshake). INVALID_ARGUMENT for
// a missing key or a CA without a certificate; the read error naming the
// path for a file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files, Env* env);

// The call's `authorization` metadata and, when the TLS handshake verified a
// client certificate, its CN and SANs.
CallerCredentials CallerFromContext(const grpc::ServerContextBase& context);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_GRPC_AUTH_H_
