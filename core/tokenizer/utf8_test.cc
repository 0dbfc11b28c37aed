#include "core/tokenizer/utf8.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(DecodeUtf8Test, SpansTileTheInput) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  const auto chars = DecodeUtf8(text);
  ASSERT_EQ(chars.size(), 4u);
  EXPECT_EQ(chars[0].cp, U'a');
  EXPECT_EQ(chars[1].cp, 0xE9u);
  EXPECT_EQ(chars[2].cp, 0x20ACu);
  EXPECT_EQ(chars[3].cp, 0x1F600u);
  EXPECT_EQ(chars[3].offset, 6u);
  EXPECT_EQ(chars[3].length, 4u);
}

TEST(DecodeUtf8Test, InvalidBytesBecomeOneReplacementEach) {
  // Stray continuation, truncated 3-byte sequence, overlong, surrogate.
  const std::string text =
      "\x80"
      "\xE2\x82"
      "x"
      "\xC0\xAF"
      "\xED\xA0\x80";
  const auto chars = DecodeUtf8(text);
  size_t covered = 0;
  for (const Utf8Char& c : chars) {
    EXPECT_EQ(c.offset, covered);
    covered += c.length;
  }
  EXPECT_EQ(covered, text.size());
  EXPECT_EQ(chars[0].cp, kReplacementChar);
  EXPECT_EQ(chars[3].cp, U'x');
}

TEST(SanitizeUtf8Test, ValidTextIsUnchanged) {
  const std::string text = "héllo wörld 你好 👨‍👩‍👧";
  EXPECT_EQ(SanitizeUtf8(text), text);
}

TEST(SanitizeUtf8Test, MaximalSubpartsBecomeOneReplacement) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"
                         "a"),
            fffd + "a");                                        // truncated: one U+FFFD
  EXPECT_EQ(SanitizeUtf8("\x80\x80"), fffd + fffd);             // each stray byte
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98"), fffd);                // incomplete at the end
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate: ED then 2 strays
  EXPECT_EQ(SanitizeUtf8("\xFF"), fffd);
}

TEST(Utf8StreamTest, HoldsBackIncompleteCharacters) {
  Utf8Stream stream;
  std::string out;
  stream.Append("\xF0\x9F", &out);
  EXPECT_EQ(out, "");
  EXPECT_EQ(stream.num_pending_bytes(), 2u);
  stream.Append("\x98", &out);
  EXPECT_EQ(out, "");
  stream.Append("\x80!", &out);
  EXPECT_EQ(out, "\xF0\x9F\x98\x80!");
  EXPECT_EQ(stream.num_pending_bytes(), 0u);
}

TEST(Utf8StreamTest, OutputDoesNotDependOnChunking) {
  std::mt19937 rng(7);
  const std::string alphabet[] = {"a",    "\xC3", "\xA9", "\xE2", "\x82", "\xAC", "\xF0",
                                  "\x9F", "\x98", "\x80", "\xFF", "\xED", "\xA0"};
  for (int round = 0; round < 500; ++round) {
    std::string input;
    const int n = rng() % 24;
    for (int i = 0; i < n; ++i) input += alphabet[rng() % std::size(alphabet)];
    Utf8Stream stream;
    std::string chunked;
    for (size_t i = 0; i < input.size();) {
      const size_t len = 1 + rng() % 3;
      stream.Append(absl::string_view(input).substr(i, len), &chunked);
      i += len;
    }
    stream.Finish(&chunked);
    EXPECT_EQ(chunked, SanitizeUtf8(input));
  }
}

TEST(AppendUtf8Test, EncodesAndRejectsNonScalars) {
  std::string out;
  AppendUtf8(0x1F600, &out);
  AppendUtf8(0xD800, &out);
  EXPECT_EQ(out, "\xF0\x9F\x98\x80\xEF\xBF\xBD");
}

}  // namespace
}  // namespace gqa
