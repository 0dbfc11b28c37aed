#include "router/api_keys.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeys[] = R"(# two tenants
key-alpha-123 tenant=alpha max_priority=10 max_streams=2
key-beta-4567   tenant=beta models=m1,m2
)";

TEST(ApiKeysTest, AKnownKeyGivesItsTenantAndGrants) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(kKeys, "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<const ApiKeyGrant*> alpha = keys->Authenticate("Bearer key-alpha-123");
  ASSERT_TRUE(alpha.ok());
  EXPECT_EQ((*alpha)->tenant, "alpha");
  EXPECT_EQ((*alpha)->max_priority, 10);
  EXPECT_EQ((*alpha)->max_streams, 2);
  EXPECT_TRUE((*alpha)->MayUse("anything"));
  absl::StatusOr<const ApiKeyGrant*> beta = keys->Authenticate("Bearer key-beta-4567");
  ASSERT_TRUE(beta.ok());
  EXPECT_TRUE((*beta)->MayUse("m2"));
  EXPECT_FALSE((*beta)->MayUse("m3"));
}

TEST(ApiKeysTest, MissingMalformedOrUnknownKeysAreUnauthenticatedWithoutEchoingTheKey) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(kKeys, "keys.txt");
  ASSERT_TRUE(keys.ok());
  for (std::optional<absl::string_view> header :
       {std::optional<absl::string_view>(), std::optional<absl::string_view>("key-alpha-123"),
        std::optional<absl::string_view>("Bearer "),
        std::optional<absl::string_view>("Bearer guessed-key-99")}) {
    absl::StatusOr<const ApiKeyGrant*> grant = keys->Authenticate(header);
    EXPECT_EQ(grant.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(grant.status().message(), Not(HasSubstr("guessed")));
  }
}

TEST(ApiKeysTest, OpenRouterMakesEveryCallerTheDefaultTenant) {
  ApiKeys keys = ApiKeys::Open();
  absl::StatusOr<const ApiKeyGrant*> grant = keys.Authenticate(std::nullopt);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ((*grant)->tenant, "default");
}

TEST(ApiKeysTest, BadLinesNameTheFileAndLine) {
  for (const char* text : {"short tenant=a", "key-long-enough", "key-long-enough tenant=a colour=red",
                           "key-long-enough tenant=a max_priority=101",
                           "key-long-enough tenant=a\nkey-long-enough tenant=b"}) {
    absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(text, "keys.txt");
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(keys.status().message(), HasSubstr("keys.txt:")) << text;
  }
}

}  // namespace
}  // namespace gqa
