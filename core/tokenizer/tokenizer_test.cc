// Byte-level BPE on a hand-built vocab (tokenizer_test_util.h).
#include "core/tokenizer/tokenizer.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer_test_util.h"
#include "core/tokenizer/unicode_props.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

int32_t Id(const std::string& text) { return ByteLevelTestId(text); }
int32_t ByteId(char c) { return Id(ByteToGpt2Char(static_cast<uint8_t>(c))); }

TEST(ByteLevelTokenizerTest, MergesWordsByRank) {
  auto tok = MustCreate(ByteLevelTestSpec());
  EXPECT_THAT(tok->Encode("hello world"), ElementsAre(Id("hello"), Id("Ġworld")));
  // "helo": he + l + o ("ll" needs two l's).
  EXPECT_THAT(tok->Encode("helo"), ElementsAre(Id("he"), ByteId('l'), ByteId('o')));
  EXPECT_THAT(tok->Encode("é😀"), ElementsAre(Id("Ã©"), Id("ðŁĺĢ")));
  EXPECT_THAT(tok->Encode(""), ElementsAre());
}

TEST(ByteLevelTokenizerTest, LowerRankWinsAndTiesGoLeft) {
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.tokens.push_back("ab");
  spec.tokens.push_back("bc");
  spec.token_types.resize(spec.tokens.size(), kTokenNormal);
  spec.merges.insert(spec.merges.begin(), {"b c", "a b"});  // "b c" ranks first
  auto tok = MustCreate(spec);
  const int32_t bc = tok->FindToken("bc");
  EXPECT_THAT(tok->Encode("abc"), ElementsAre(ByteId('a'), bc));
  // "ĠĠ" merges leftmost first: 5 spaces -> ĠĠĠĠ + Ġ (gpt2 keeps the run whole at the end).
  EXPECT_THAT(tok->Encode("x     "), ElementsAre(ByteId('x'), Id("ĠĠĠĠ"), ByteId(' ')));
}

TEST(ByteLevelTokenizerTest, SpecialTokensAreMatchedWhole) {
  auto tok = MustCreate(ByteLevelTestSpec());
  EXPECT_THAT(tok->Encode("<|im_start|>hello<|im_end|>"), ElementsAre(1, Id("hello"), 2));
  // Without parse_special the control text is spelled out byte by byte...
  const auto plain = tok->Encode("<|im_start|>", {.add_special = true, .parse_special = false});
  EXPECT_EQ(plain.size(), std::string("<|im_start|>").size());
  // ...but user-defined tokens are still matched.
  EXPECT_THAT(tok->Encode("<tool>", {.add_special = true, .parse_special = false}), ElementsAre(3));
  // Near misses are ordinary text.
  EXPECT_GT(tok->Encode("<|im_star|>").size(), 1u);
}

TEST(ByteLevelTokenizerTest, AddsBosAndEosOnlyWhenAsked) {
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.add_bos = true;
  spec.add_eos = true;
  auto tok = MustCreate(spec);
  EXPECT_THAT(tok->Encode("hello"), ElementsAre(0, Id("hello"), 0));
  EXPECT_THAT(tok->Encode("hello", {.add_special = false}), ElementsAre(Id("hello")));
}

TEST(ByteLevelTokenizerTest, DecodeRoundTripsAnyBytes) {
  auto tok = MustCreate(ByteLevelTestSpec());
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    std::string text;
    for (int i = rng() % 40; i > 0; --i) text.push_back(static_cast<char>(rng() % 256));
    const auto decoded = tok->Decode(tok->Encode(text, {.parse_special = false}));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(*tok->Decode(tok->Encode("<|im_start|>hi\n")), "<|im_start|>hi\n");
  EXPECT_EQ(*tok->Decode({1, Id("hello"), 2}, {.skip_special = true}), "hello");
  EXPECT_EQ(*tok->Decode({3}, {.skip_special = true}), "<tool>");  // user-defined stays
}

TEST(ByteLevelTokenizerTest, TokenPieceAndText) {
  auto tok = MustCreate(ByteLevelTestSpec());
  EXPECT_EQ(*tok->TokenPiece(Id("Ġworld")), " world");
  EXPECT_EQ(*tok->TokenText(Id("Ġworld")), "Ġworld");
  EXPECT_EQ(*tok->TokenPiece(ByteId('\n')), "\n");
  EXPECT_EQ(*tok->TokenPiece(1), "<|im_start|>");
  EXPECT_TRUE(tok->IsSpecial(1));
  EXPECT_FALSE(tok->IsSpecial(Id("hello")));
  EXPECT_EQ(tok->FindToken("nope"), -1);
}

TEST(ByteLevelTokenizerTest, IdsOutOfRangeNameIdAndVocabSize) {
  auto tok = MustCreate(ByteLevelTestSpec());
  const std::string size = std::to_string(tok->vocab_size());
  for (const int32_t bad : {-1, tok->vocab_size(), 1 << 30}) {
    const auto decoded = tok->Decode({Id("hello"), bad});
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(decoded.status().message(), HasSubstr(std::to_string(bad)));
    EXPECT_THAT(decoded.status().message(), HasSubstr(size));
    EXPECT_EQ(tok->TokenPiece(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ByteLevelTokenizerTest, CreateRejectsBadSpecs) {
  auto code = [](TokenizerSpec spec) { return Tokenizer::Create(std::move(spec)).status().code(); };
  EXPECT_EQ(code(TokenizerSpec()), absl::StatusCode::kInvalidArgument);
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.scores = {1.0f};
  EXPECT_EQ(code(spec), absl::StatusCode::kInvalidArgument);
  spec = ByteLevelTestSpec();
  spec.token_types.pop_back();
  EXPECT_EQ(code(spec), absl::StatusCode::kInvalidArgument);
  spec = ByteLevelTestSpec();
  spec.eos_id = 100000;
  const auto status = Tokenizer::Create(spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("eos_id=100000"));
  spec = ByteLevelTestSpec();
  spec.merges.push_back("nospace");
  EXPECT_EQ(code(spec), absl::StatusCode::kInvalidArgument);
  spec = ByteLevelTestSpec();
  spec.add_bos = true;
  spec.bos_id = -1;
  EXPECT_EQ(code(spec), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(ByteLevelTestSpec("no-such-pre")), absl::StatusCode::kUnimplemented);
}

TEST(ByteLevelTokenizerTest, MissingByteTokensBecomeUnk) {
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.tokens[ByteId('q')] = "";  // the vocab cannot spell 'q'
  auto tok = MustCreate(spec);
  EXPECT_THAT(tok->Encode("q"), ElementsAre(0));
}

TEST(ByteLevelTokenizerTest, LongWordsMergeInNearLinearTime) {
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.tokens.push_back("aa");
  spec.tokens.push_back("aaaa");
  spec.token_types.resize(spec.tokens.size(), kTokenNormal);
  spec.merges.push_back("a a");
  spec.merges.push_back("aa aa");
  auto tok = MustCreate(spec);
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok->Encode(std::string(400'001, 'a'));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(ids.size(), 100'001u);
  EXPECT_EQ(ids.front(), tok->FindToken("aaaa"));
  EXPECT_EQ(ids.back(), ByteId('a'));
}

TEST(ByteLevelTokenizerTest, Llama3SkipsMergesForWholeVocabWords) {
  TokenizerSpec spec = ByteLevelTestSpec("llama-bpe");
  spec.tokens.push_back("hel");  // in the vocab, but no merge creates it
  spec.token_types.resize(spec.tokens.size(), kTokenNormal);
  auto tok = MustCreate(spec);
  EXPECT_THAT(tok->Encode("hel"), ElementsAre(tok->FindToken("hel")));
  auto gpt2 = MustCreate([] {
    TokenizerSpec s = ByteLevelTestSpec("gpt2");
    s.tokens.push_back("hel");
    s.token_types.resize(s.tokens.size(), kTokenNormal);
    return s;
  }());
  EXPECT_THAT(gpt2->Encode("hel"), ElementsAre(Id("he"), ByteId('l')));
}

}  // namespace
}  // namespace gqa

namespace gqa {
namespace {

TEST(TokenizerFingerprintTest, EqualSpecsAgreeAndEveryPartCounts) {
  const std::string base = MustCreate(ByteLevelTestSpec())->Fingerprint();
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(MustCreate(ByteLevelTestSpec())->Fingerprint(), base);
  TokenizerSpec merges = ByteLevelTestSpec();
  std::swap(merges.merges[0], merges.merges[1]);
  EXPECT_NE(MustCreate(merges)->Fingerprint(), base);
  TokenizerSpec bos = ByteLevelTestSpec();
  bos.add_bos = !bos.add_bos;
  EXPECT_NE(MustCreate(bos)->Fingerprint(), base);
  TokenizerSpec chat = ByteLevelTestSpec();
  chat.chat_template = "{{ messages }}";
  EXPECT_NE(MustCreate(chat)->Fingerprint(), base);
  EXPECT_NE(MustCreate(SentencePieceTestSpec())->Fingerprint(), base);
}

}  // namespace
}  // namespace gqa
