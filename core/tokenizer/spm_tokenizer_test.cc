// SentencePiece BPE on a hand-built vocab (tokenizer_test_util.h).
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;

int32_t Id(const std::string& text) { return SentencePieceTestId(text); }

TEST(SentencePieceTokenizerTest, MergesByScoreWithSpacePrefix) {
  auto tok = MustCreate(SentencePieceTestSpec());
  EXPECT_THAT(tok->Encode("hello world"), ElementsAre(1, Id("▁hello"), Id("▁world")));
  EXPECT_THAT(tok->Encode("hello  world", {.add_special = false}),
              ElementsAre(Id("▁hello"), Id("▁"), Id("▁world")));
  EXPECT_THAT(tok->Encode("", {.add_special = false}), ElementsAre());
  EXPECT_THAT(tok->Encode(""), ElementsAre(1));
}

TEST(SentencePieceTokenizerTest, HigherScoreMergesFirst) {
  TokenizerSpec spec = SentencePieceTestSpec();
  // "lo" outscoring "ll": "hello" becomes he + l + lo, not hello.
  spec.tokens.push_back("lo");
  spec.token_types.push_back(kTokenNormal);
  spec.scores.push_back(-0.5f);
  spec.add_space_prefix = false;
  auto tok = MustCreate(spec);
  EXPECT_THAT(tok->Encode("hello", {.add_special = false}),
              ElementsAre(Id("he"), Id("l"), tok->FindToken("lo")));
}

TEST(SentencePieceTokenizerTest, UnknownCharactersFallBackToBytes) {
  auto tok = MustCreate(SentencePieceTestSpec());
  // "ü" (C3 BC) is not a piece: two byte tokens. "é" is a piece.
  EXPECT_THAT(tok->Encode("ü é", {.add_special = false}),
              ElementsAre(Id("▁"), Id("<0xC3>"), Id("<0xBC>"), Id("▁"), Id("é")));
  const auto text = tok->Decode(tok->Encode("ü é"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<s>ü é");
}

TEST(SentencePieceTokenizerTest, WithoutByteTokensUnknownBecomesUnk) {
  TokenizerSpec spec = SentencePieceTestSpec();
  for (int b = 0; b < 256; ++b) spec.tokens[3 + b] = "";  // drop the byte pieces
  auto tok = MustCreate(spec);
  EXPECT_THAT(tok->Encode("ü", {.add_special = false}), ElementsAre(Id("▁"), 0, 0));
}

TEST(SentencePieceTokenizerTest, SpacePrefixFollowsSpecialTokens) {
  auto tok = MustCreate(SentencePieceTestSpec());
  EXPECT_THAT(tok->Encode("<s>hello</s>world", {.add_special = false}),
              ElementsAre(1, Id("▁hello"), 2, Id("▁world")));
  TokenizerSpec no_prefix = SentencePieceTestSpec();
  no_prefix.add_space_prefix = false;
  EXPECT_THAT(MustCreate(no_prefix)->Encode("hello", {.add_special = false}),
              ElementsAre(Id("hello")));
}

TEST(SentencePieceTokenizerTest, DecodeStripsTheAddedSpaceOnly) {
  auto tok = MustCreate(SentencePieceTestSpec());
  for (const std::string text : {"hello world", " hello", "  hello  ", "hello</s>world", "é"}) {
    const auto decoded = tok->Decode(tok->Encode(text, {.add_special = false}));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
  // BOS is a special token: the space after it was added by Encode too.
  EXPECT_EQ(*tok->Decode(tok->Encode("hello world")), "<s>hello world");
  EXPECT_EQ(*tok->Decode(tok->Encode("hello world"), {.skip_special = true}), "hello world");
  EXPECT_EQ(*tok->TokenPiece(Id("▁hello")), " hello");
  EXPECT_EQ(*tok->TokenPiece(Id("<0x0A>")), "\n");
}

}  // namespace
}  // namespace gqa
