#include "tools/gqa_loadgen/slo.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

TEST(SloTest, ParsesKeysAndUnits) {
  absl::StatusOr<Slo> slo = ParseSlo("ttft=500ms,tpot=0.05s,e2e=2000000us");
  ASSERT_TRUE(slo.ok()) << slo.status();
  EXPECT_DOUBLE_EQ(*slo->ttft_ms, 500);
  EXPECT_DOUBLE_EQ(*slo->tpot_ms, 50);
  EXPECT_DOUBLE_EQ(*slo->e2e_ms, 2000);
  EXPECT_EQ(slo->ToString(), "ttft=500ms,tpot=50ms,e2e=2000ms");
}

TEST(SloTest, RefusesWhatItCannotRead) {
  EXPECT_THAT(ParseSlo("ttft=500").status().message(), HasSubstr("unit"));
  EXPECT_THAT(ParseSlo("latency=5ms").status().message(), HasSubstr("unknown key 'latency'"));
  EXPECT_THAT(ParseSlo("ttft").status().message(), HasSubstr("KEY=DURATION"));
  EXPECT_THAT(ParseSlo("ttft=1ms,ttft=2ms").status().message(), HasSubstr("twice"));
  EXPECT_THAT(ParseSlo("tpot=-3ms").status().message(), HasSubstr("--slo"));
}

TEST(SloTest, EveryBoundMustHold) {
  Slo slo = *ParseSlo("ttft=100ms,tpot=10ms");
  EXPECT_TRUE(MeetsSlo(slo, 100, 10, 5000));
  EXPECT_FALSE(MeetsSlo(slo, 100.1, 10, 5000));
  EXPECT_FALSE(MeetsSlo(slo, 50, 10.5, 5000));
  EXPECT_TRUE(MeetsSlo(slo, 50, std::nullopt, 5000));  // one token: no TPOT
  EXPECT_TRUE(MeetsSlo(Slo(), 1e9, 1e9, 1e9));
}

}  // namespace
}  // namespace gqa::loadgen
