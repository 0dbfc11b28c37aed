#include "kvstore/service/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/hash.h"

namespace gqa::kvstore {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

std::string TokenDigest(absl::string_view token) {
  const Sha256Digest digest = Sha256(token);
  return std::string(digest.begin(), digest.end());
}

bool HasWhitespace(absl::string_view text) {
  for (char c : text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Authenticator> Authenticator::Create(const std::vector<std::string>& tokens,
                                                    const std::vector<std::string>& identities) {
  Authenticator auth;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].empty() || HasWhitespace(tokens[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("token ", i + 1, " is empty or contains whitespace"));
    }
    auth.token_digests_.insert(TokenDigest(tokens[i]));
  }
  for (const std::string& identity : identities) {
    if (identity.empty()) return absl::InvalidArgumentError("an allowed identity is empty");
    auth.identities_.insert(identity);
  }
  return auth;
}

absl::Status Authenticator::Check(const CallerCredentials& caller) const {
  if (!enabled()) return absl::OkStatus();
  const bool cert_presented = !identities_.empty() && !caller.certificate_identities.empty();
  if (cert_presented) {
    for (const std::string& identity : caller.certificate_identities) {
      if (identities_.contains(identity)) return absl::OkStatus();
    }
  }
  const bool bearer =
      caller.authorization.has_value() && absl::StartsWith(*caller.authorization, kBearer);
  const bool token_presented = !token_digests_.empty() && bearer;
  if (token_presented) {
    const absl::string_view token =
        absl::StripAsciiWhitespace(absl::string_view(*caller.authorization).substr(kBearer.size()));
    if (token_digests_.contains(TokenDigest(token))) return absl::OkStatus();
  }
  if (token_presented && cert_presented) {
    return absl::PermissionDeniedError(
        "neither the service token nor the client certificate's identity is accepted by this "
        "kvstore");
  }
  if (token_presented) {
    return absl::PermissionDeniedError("the service token is not accepted by this kvstore");
  }
  if (cert_presented) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the client certificate's identity (", caller.certificate_identities.front(),
        ") is not in this kvstore's allowed identities"));
  }
  if (caller.authorization.has_value() && !bearer && !token_digests_.empty()) {
    return absl::UnauthenticatedError("the authorization metadata must be \"Bearer <token>\"");
  }
  if (token_digests_.empty()) {
    return absl::UnauthenticatedError(
        "no client certificate: this kvstore requires mTLS with a certificate from its CA");
  }
  return absl::UnauthenticatedError(
      absl::StrCat("no credentials: send \"authorization: Bearer <token>\"",
                   identities_.empty() ? "" : " or a client certificate"));
}

absl::StatusOr<std::vector<std::string>> ParseTokensFile(absl::string_view contents) {
  std::vector<std::string> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (HasWhitespace(line)) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": a token must not contain whitespace"));
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) return absl::InvalidArgumentError("the tokens file holds no token");
  return tokens;
}

absl::StatusOr<std::vector<std::string>> ParseIdentityList(absl::string_view text) {
  std::vector<std::string> identities;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) return absl::InvalidArgumentError("an identity in the list is empty");
    identities.emplace_back(item);
  }
  return identities;
}

}  // namespace gqa::kvstore
