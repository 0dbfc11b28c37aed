#include "tools/gqa/command_line.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr FlagSpec kSpecs[] = {{"ctx"}, {"kv-dtype"}, {"json", false}};

absl::StatusOr<CommandLine> Parse(std::vector<const char*> args) {
  return CommandLine::Parse(args, kSpecs);
}

TEST(KvSizeCommandLineTest, ValuesSwitchesAndPositionals) {
  absl::StatusOr<CommandLine> line =
      Parse({"llama-2-70b", "--ctx", "4096", "--kv-dtype=fp8-e4m3", "--json"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(line->positional(), ElementsAre("llama-2-70b"));
  EXPECT_EQ(line->Value("ctx"), "4096");
  EXPECT_EQ(line->Value("kv-dtype"), "fp8-e4m3");
  EXPECT_TRUE(line->Has("json"));
  EXPECT_FALSE(line->Has("help"));
  EXPECT_EQ(line->Value("mem"), std::nullopt);

  line = Parse({"-h", "--", "--ctx"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->Has("help"));
  EXPECT_THAT(line->positional(), ElementsAre("--ctx"));
  EXPECT_EQ(Parse({"--ctx="})->Value("ctx"), "");
}

TEST(KvSizeCommandLineTest, ErrorsNameTheFlag) {
  EXPECT_THAT(Parse({"--bogus", "1"}).status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--bogus=1"}).status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--ctx"}).status().message(), HasSubstr("--ctx needs a value"));
  EXPECT_THAT(Parse({"--ctx", "--json"}).status().message(), HasSubstr("--ctx needs a value"));
  EXPECT_THAT(Parse({"--json=yes"}).status().message(), HasSubstr("--json takes no value"));
  EXPECT_THAT(Parse({"--ctx", "1", "--ctx=2"}).status().message(), HasSubstr("--ctx given twice"));
  EXPECT_THAT(Parse({"-5"}).status().message(), HasSubstr("'-5'"));
  EXPECT_EQ(Parse({"--bogus"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KvSizeCommandLineTest, PositiveIntegers) {
  EXPECT_EQ(*ParsePositiveInt("--ctx", "4096"), 4096);
  EXPECT_EQ(*ParsePositiveInt("--ctx", "999999999999999999"), 999999999999999999);
  for (const char* bad : {"", "0", "-1", "+1", "1e3", "4k", " 1", "0x10", "9999999999999999999"}) {
    absl::StatusOr<int64_t> value = ParsePositiveInt("--ctx", bad);
    ASSERT_FALSE(value.ok()) << bad;
    EXPECT_THAT(value.status().message(), HasSubstr("--ctx '"));
  }
}

TEST(KvSizeCommandLineTest, Lists) {
  EXPECT_THAT(*SplitList("--kv-heads", "64,8,1"), ElementsAre("64", "8", "1"));
  EXPECT_THAT(*SplitList("--kv-heads", "8"), ElementsAre("8"));
  for (const char* bad : {"", "64,,1", "64,", ",8"}) {
    EXPECT_THAT(SplitList("--kv-heads", bad).status().message(), HasSubstr("--kv-heads")) << bad;
  }
}

TEST(KvSizeCommandLineTest, ByteSizes) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(*ParseByteSize("--mem", "1073741824"), kGiB);
  EXPECT_EQ(*ParseByteSize("--mem", "80GiB"), 80 * kGiB);
  EXPECT_EQ(*ParseByteSize("--mem", "80gib"), 80 * kGiB);
  EXPECT_EQ(*ParseByteSize("--mem", "80GB"), int64_t{80'000'000'000});
  EXPECT_EQ(*ParseByteSize("--mem", "1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(*ParseByteSize("--mem", "2TiB"), 2048 * kGiB);
  EXPECT_EQ(*ParseByteSize("--mem", "1TB"), int64_t{1'000'000'000'000});
  EXPECT_EQ(*ParseByteSize("--mem", "4KiB"), 4096);
  EXPECT_EQ(*ParseByteSize("--mem", "4KB"), 4000);
  EXPECT_EQ(*ParseByteSize("--mem", "3MiB"), 3 << 20);
  EXPECT_EQ(*ParseByteSize("--mem", "512B"), 512);
  for (const char* bad : {"", "0", "0GiB", "80G", "80g", "80 GiB", "GiB", "1.GiB", ".5GiB", "-1GiB",
                          "80PiB", "80XB", "1.2.3GiB", "9000000TiB"}) {
    absl::StatusOr<int64_t> value = ParseByteSize("--mem", bad);
    ASSERT_FALSE(value.ok()) << bad << " = " << *value;
    EXPECT_THAT(value.status().message(), HasSubstr("--mem '"));
  }
  EXPECT_THAT(ParseByteSize("--mem", "80G").status().message(), HasSubstr("ambiguous"));
}

TEST(KvSizeCommandLineTest, Formatting) {
  EXPECT_EQ(FormatWithCommas(0), "0");
  EXPECT_EQ(FormatWithCommas(999), "999");
  EXPECT_EQ(FormatWithCommas(1000), "1,000");
  EXPECT_EQ(FormatWithCommas(1'342'177'280), "1,342,177,280");
  EXPECT_EQ(FormatWithCommas(-1234), "-1,234");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(327'680), "320.00 KiB");
  EXPECT_EQ(FormatBytes(1'342'177'280), "1.25 GiB");
  EXPECT_EQ(FormatBytes(10'737'418'240), "10.00 GiB");
}

}  // namespace
}  // namespace gqa
