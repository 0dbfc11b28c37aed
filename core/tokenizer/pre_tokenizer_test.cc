#include "core/tokenizer/pre_tokenizer.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Split(PreTokenizerKind kind, absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view w : PreTokenize(kind, text)) out.emplace_back(w);
  return out;
}

TEST(PreTokenizerTest, NamesMapToKinds) {
  EXPECT_EQ(*PreTokenizerKindFromName("smollm"), PreTokenizerKind::kSmollm);
  EXPECT_EQ(*PreTokenizerKindFromName("gpt2"), PreTokenizerKind::kGpt2);
  EXPECT_EQ(*PreTokenizerKindFromName("llama-bpe"), PreTokenizerKind::kLlama3);
  EXPECT_EQ(*PreTokenizerKindFromName("qwen2"), PreTokenizerKind::kQwen2);
  EXPECT_EQ(*PreTokenizerKindFromName(""), PreTokenizerKind::kDefault);
  const auto bad = PreTokenizerKindFromName("deepseek-coder");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("deepseek-coder"));
}

TEST(PreTokenizerTest, Gpt2Words) {
  const auto k = PreTokenizerKind::kGpt2;
  EXPECT_THAT(Split(k, "Hello world"), ElementsAre("Hello", " world"));
  EXPECT_THAT(Split(k, "I'm here, they've"), ElementsAre("I", "'m", " here", ",", " they", "'ve"));
  EXPECT_THAT(Split(k, "I'M"), ElementsAre("I", "'", "M"));    // case-sensitive
  EXPECT_THAT(Split(k, "a  b"), ElementsAre("a", " ", " b"));  // \s+(?!\S)
  EXPECT_THAT(Split(k, "a   "), ElementsAre("a", "   "));      // trailing run stays whole
  EXPECT_THAT(Split(k, "x 123abc"), ElementsAre("x", " 123", "abc"));
  EXPECT_THAT(Split(k, "x !?! y"), ElementsAre("x", " !?!", " y"));
  EXPECT_THAT(Split(k, "a\n\nb"), ElementsAre("a", "\n", "\n", "b"));
  EXPECT_THAT(Split(k, "né café"), ElementsAre("né", " café"));
  EXPECT_THAT(Split(k, "😀😀 ok"), ElementsAre("😀😀", " ok"));
}

TEST(PreTokenizerTest, SmollmIsolatesEveryDigit) {
  const auto k = PreTokenizerKind::kSmollm;
  EXPECT_THAT(Split(k, "abc123"), ElementsAre("abc", "1", "2", "3"));
  // The space before a number is cut off from it by the digit split.
  EXPECT_THAT(Split(k, "x 42"), ElementsAre("x", " ", "4", "2"));
  EXPECT_THAT(Split(k, "½ and ①"), ElementsAre("½", " and", " ", "①"));  // \p{N} beyond ASCII
}

TEST(PreTokenizerTest, Llama3Words) {
  const auto k = PreTokenizerKind::kLlama3;
  EXPECT_THAT(Split(k, "Hello world"), ElementsAre("Hello", " world"));
  EXPECT_THAT(Split(k, "1234567"), ElementsAre("123", "456", "7"));
  EXPECT_THAT(Split(k, "I'M ok"), ElementsAre("I", "'M", " ok"));  // case-insensitive
  EXPECT_THAT(Split(k, "(hello"), ElementsAre("(hello"));          // [^\r\n\p{L}\p{N}]?\p{L}+
  EXPECT_THAT(Split(k, "a \n\n b"), ElementsAre("a", " \n\n", " b"));
  EXPECT_THAT(Split(k, "x !!\n\ny"), ElementsAre("x", " !!\n\n", "y"));
  EXPECT_THAT(Split(PreTokenizerKind::kQwen2, "1234"), ElementsAre("1", "2", "3", "4"));
}

TEST(PreTokenizerTest, DefaultListSplitsPunctuationAndDigitTriples) {
  const auto k = PreTokenizerKind::kDefault;
  EXPECT_THAT(Split(k, "a+b"), ElementsAre("a", "+", "b"));
  EXPECT_THAT(Split(k, "x 1234567"), ElementsAre("x", " ", "123", "456", "7"));
  EXPECT_THAT(Split(k, "12a"), ElementsAre("12", "a"));
}

TEST(PreTokenizerTest, WordsTileRandomText) {
  const std::string alphabet[] = {
      "a", "Z", " ", "  ", "\n",           "\r\n", "\t",   "1", "'s",      "'",
      "!", "é", "😀", "你", "\xE2\x80\x8D", "\xFF", "\xC3", "٣", "\xC2\xA0"};
  std::mt19937 rng(1);
  for (int round = 0; round < 300; ++round) {
    std::string text;
    for (int i = rng() % 30; i > 0; --i) text += alphabet[rng() % std::size(alphabet)];
    for (auto kind : {PreTokenizerKind::kGpt2, PreTokenizerKind::kSmollm, PreTokenizerKind::kLlama3,
                      PreTokenizerKind::kQwen2, PreTokenizerKind::kDefault}) {
      std::string joined;
      for (absl::string_view w : PreTokenize(kind, text)) {
        EXPECT_FALSE(w.empty());
        joined.append(w.data(), w.size());
      }
      EXPECT_EQ(joined, text) << PreTokenizerKindName(kind);
    }
  }
}

TEST(PreTokenizerTest, LongWhitespaceRunsTakeLinearTime) {
  std::string text(2'000'000, ' ');
  text += "x";
  text += std::string(1'000'000, '\n');
  text += std::string(500'000, '!');
  const auto start = std::chrono::steady_clock::now();
  for (auto kind : {PreTokenizerKind::kGpt2, PreTokenizerKind::kSmollm, PreTokenizerKind::kLlama3,
                    PreTokenizerKind::kDefault}) {
    EXPECT_LE(PreTokenize(kind, text).size(), 5u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace gqa
