// Authenticator decisions without a server: no credentials UNAUTHENTICATED,
// credentials not accepted PERMISSION_DENIED, accepted tokens and
// certificate identities OK; and the tokens-file grammar.
#include "kvstore/service/authenticator.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

CallerCredentials WithToken(const std::string& authorization) {
  CallerCredentials caller;
  caller.authorization = authorization;
  return caller;
}

CallerCredentials WithCertificate(std::vector<std::string> identities) {
  CallerCredentials caller;
  caller.certificate_identities = std::move(identities);
  return caller;
}

TEST(AuthenticatorTest, WithoutConfigurationEveryoneIsAccepted) {
  absl::StatusOr<Authenticator> auth = Authenticator::Create({}, {});
  ASSERT_TRUE(auth.ok());
  EXPECT_FALSE(auth->enabled());
  EXPECT_TRUE(auth->Check(CallerCredentials()).ok());
}

TEST(AuthenticatorTest, Tokens) {
  absl::StatusOr<Authenticator> auth = Authenticator::Create({"s3cret", "other"}, {});
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE(auth->enabled());
  EXPECT_TRUE(auth->Check(WithToken("Bearer s3cret")).ok());
  EXPECT_TRUE(auth->Check(WithToken("Bearer other")).ok());
  const absl::Status none = auth->Check(CallerCredentials());
  EXPECT_EQ(none.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.message(), HasSubstr("Bearer <token>"));
  EXPECT_EQ(auth->Check(WithToken("Bearer wrong")).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auth->Check(WithToken("Bearer s3cre")).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auth->Check(WithToken("Basic czNjcmV0")).code(), absl::StatusCode::kUnauthenticated);
  // A certificate is no credential when no identity is configured.
  EXPECT_EQ(auth->Check(WithCertificate({"worker-1"})).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthenticatorTest, CertificateIdentities) {
  absl::StatusOr<Authenticator> auth = Authenticator::Create({}, {"worker-1", "spiffe://x/w"});
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE(auth->Check(WithCertificate({"worker-1"})).ok());
  EXPECT_TRUE(auth->Check(WithCertificate({"cn-other", "spiffe://x/w"})).ok());
  const absl::Status denied = auth->Check(WithCertificate({"intruder"}));
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("intruder"));
  EXPECT_EQ(auth->Check(CallerCredentials()).code(), absl::StatusCode::kUnauthenticated);
  // Tokens are no credential when none is configured.
  EXPECT_EQ(auth->Check(WithToken("Bearer anything")).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthenticatorTest, EitherCredentialSuffices) {
  absl::StatusOr<Authenticator> auth = Authenticator::Create({"tok"}, {"worker-1"});
  ASSERT_TRUE(auth.ok());
  CallerCredentials both = WithCertificate({"intruder"});
  both.authorization = "Bearer tok";
  EXPECT_TRUE(auth->Check(both).ok());
  both.authorization = "Bearer bad";
  EXPECT_EQ(auth->Check(both).code(), absl::StatusCode::kPermissionDenied);
  both.certificate_identities = {"worker-1"};
  EXPECT_TRUE(auth->Check(both).ok());
}

TEST(AuthenticatorTest, RefusesMalformedConfiguration) {
  EXPECT_FALSE(Authenticator::Create({""}, {}).ok());
  EXPECT_FALSE(Authenticator::Create({"a b"}, {}).ok());
  EXPECT_FALSE(Authenticator::Create({}, {""}).ok());
}

TEST(AuthenticatorTest, TokensFileGrammar) {
  absl::StatusOr<std::vector<std::string>> tokens =
      ParseTokensFile("# workers\nabc123\n\n  def456  \r\n# old\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre("abc123", "def456"));
  EXPECT_THAT(ParseTokensFile("# nothing\n\n").status().message(), HasSubstr("no token"));
  EXPECT_THAT(ParseTokensFile("ok\ntwo words\n").status().message(), HasSubstr("line 2"));
}

TEST(AuthenticatorTest, IdentityListGrammar) {
  absl::StatusOr<std::vector<std::string>> ids = ParseIdentityList("worker-1, worker-2");
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre("worker-1", "worker-2"));
  EXPECT_FALSE(ParseIdentityList("a,,b").ok());
}

}  // namespace
}  // namespace gqa::kvstore
