#include "kvstore/service/grpc_auth.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "core/status.h"

namespace gqa::kvstore {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files, Env* env) {
  if (files.cert_path.empty()) {
    if (!files.key_path.empty() || !files.client_ca_path.empty()) {
      return absl::InvalidArgumentError(
          "a TLS key or client CA needs the server certificate (--tls-cert) too");
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.key_path.empty()) {
    return absl::InvalidArgumentError("the TLS certificate needs its private key (--tls-key)");
  }
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, env->ReadFile(files.cert_path));
  ASSIGN_OR_RETURN(pair.private_key, env->ReadFile(files.key_path));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (files.client_ca_path.empty()) {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  } else {
    ASSIGN_OR_RETURN(options.pem_root_certs, env->ReadFile(files.client_ca_path));
    // NOTE: requested, not required: a client without a certificate reaches
    // the service and gets UNAUTHENTICATED (or uses a token), as kvstore.proto
    // says, instead of a failed handshake it cannot tell from a network error.
    options.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

CallerCredentials CallerFromContext(const grpc::ServerContextBase& context) {
  CallerCredentials caller;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    caller.authorization = std::string(it->second.data(), it->second.size());
  }
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        caller.certificate_identities.emplace_back(value.data(), value.size());
      }
    }
  }
  return caller;
}

}  // namespace gqa::kvstore
