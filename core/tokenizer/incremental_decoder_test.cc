#include "core/tokenizer/incremental_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer_test_util.h"
#include "core/tokenizer/unicode_props.h"
#include "core/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Deltas(const Tokenizer& tok, const std::vector<int32_t>& ids,
                                DecodeOptions options = {}) {
  IncrementalDecoder decoder(&tok, options);
  std::vector<std::string> deltas;
  for (const int32_t id : ids) {
    auto delta = decoder.Add(id);
    EXPECT_TRUE(delta.ok()) << delta.status();
    deltas.push_back(*delta);
  }
  deltas.push_back(decoder.Finish());
  return deltas;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// Each delta must be valid UTF-8 on its own.
void ExpectValidDeltas(const std::vector<std::string>& deltas) {
  for (const std::string& d : deltas) EXPECT_EQ(SanitizeUtf8(d), d);
}

int32_t ByteId(uint8_t b) { return ByteLevelTestId(ByteToGpt2Char(b)); }

TEST(IncrementalDecoderTest, HoldsBackAnEmojiUntilItsLastByte) {
  auto tok = MustCreate(ByteLevelTestSpec());
  const std::vector<int32_t> ids = {
      ByteLevelTestId("hello"), ByteId(0xF0), ByteId(0x9F), ByteId(0x98), ByteId(0x80),
      ByteLevelTestId("Ġworld")};
  EXPECT_THAT(Deltas(*tok, ids), ElementsAre("hello", "", "", "", "😀", " world", ""));
}

TEST(IncrementalDecoderTest, InvalidBytesBecomeReplacementOnceTheyCannotComplete) {
  auto tok = MustCreate(ByteLevelTestSpec());
  // E2 82 then 'h': the sequence can no longer complete.
  EXPECT_THAT(Deltas(*tok, {ByteId(0xE2), ByteId(0x82), ByteId('h')}),
              ElementsAre("", "", "\xEF\xBF\xBDh", ""));
  // A lone FF can never start a character: replaced at once.
  EXPECT_THAT(Deltas(*tok, {ByteId(0xFF)}), ElementsAre("\xEF\xBF\xBD", ""));
  // Truncated at the end: Finish() flushes one U+FFFD.
  EXPECT_THAT(Deltas(*tok, {ByteId(0xF0), ByteId(0x9F)}), ElementsAre("", "", "\xEF\xBF\xBD"));
}

TEST(IncrementalDecoderTest, BadIdLeavesTheDecoderUsable) {
  auto tok = MustCreate(ByteLevelTestSpec());
  IncrementalDecoder decoder(tok.get());
  EXPECT_EQ(*decoder.Add(ByteId(0xC3)), "");
  const auto bad = decoder.Add(tok->vocab_size());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decoder.num_pending_bytes(), 1u);
  EXPECT_EQ(*decoder.Add(ByteId(0xA9)), "é");
}

TEST(IncrementalDecoderTest, ConcatenatedDeltasEqualDecodeForRandomIds) {
  for (const bool spm : {false, true}) {
    auto tok = MustCreate(spm ? SentencePieceTestSpec() : ByteLevelTestSpec());
    std::mt19937 rng(spm ? 11 : 5);
    for (int round = 0; round < 400; ++round) {
      std::vector<int32_t> ids;
      for (int i = rng() % 20; i > 0; --i) ids.push_back(rng() % tok->vocab_size());
      for (const bool skip : {false, true}) {
        const DecodeOptions options{.skip_special = skip};
        const auto deltas = Deltas(*tok, ids, options);
        ExpectValidDeltas(deltas);
        const auto full = tok->Decode(ids, options);
        ASSERT_TRUE(full.ok());
        EXPECT_EQ(Join(deltas), SanitizeUtf8(*full));
      }
    }
  }
}

TEST(IncrementalDecoderTest, StreamsMultiByteTextLosslessly) {
  auto tok = MustCreate(ByteLevelTestSpec());
  const std::string text = "héllo 😀 wörld 你好 👨‍👩‍👧 🇫🇷 é😀";
  const std::vector<int32_t> ids = tok->Encode(text);
  const auto deltas = Deltas(*tok, ids);
  ExpectValidDeltas(deltas);
  EXPECT_EQ(Join(deltas), text);
}

TEST(IncrementalDecoderTest, SentencePieceStripsLeadingSpaceLikeDecode) {
  auto tok = MustCreate(SentencePieceTestSpec());
  const std::vector<int32_t> ids = tok->Encode("hello world</s>hello");
  EXPECT_THAT(Deltas(*tok, ids), ElementsAre("<s>", "hello", " world", "</s>", "hello", ""));
  EXPECT_THAT(Deltas(*tok, ids, {.skip_special = true}),
              ElementsAre("", "hello", " world", "", "hello", ""));
  // Finish() resets: the next sequence starts at text start again.
  IncrementalDecoder decoder(tok.get());
  EXPECT_EQ(*decoder.Add(SentencePieceTestId("▁hello")), "hello");
  EXPECT_EQ(decoder.Finish(), "");
  EXPECT_EQ(*decoder.Add(SentencePieceTestId("▁hello")), "hello");
}

}  // namespace
}  // namespace gqa
