// Golden tests: our tokenizer, loaded from the default model's GGUF, must give
// llama.cpp's ids for every corpus text (tests/testdata/tokenizer/
// smollm2_golden.jsonl, written by bench/reference/tokenize_golden.py) and
// decode them back to the text. The same for a SentencePiece vocab derived
// from it (spm_derived_golden.jsonl; derivation below and in the script).
// Needs GQA_DEFAULT_MODEL; skips without it.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_replace.h"
#include "core/env.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/incremental_decoder.h"
#include "core/tokenizer/unicode_props.h"
#include "core/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

struct GoldenCase {
  std::string text;
  std::vector<int32_t> special;  // parse_special = true
  std::vector<int32_t> plain;    // parse_special = false
};

std::vector<GoldenCase> ReadGolden(const std::string& name) {
  std::ifstream in(std::string(GQA_TOKENIZER_TESTDATA_DIR "/") + name);
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("meta")) continue;
    cases.push_back({j["text"].get<std::string>(), j["special"].get<std::vector<int32_t>>(),
                     j["plain"].get<std::vector<int32_t>>()});
  }
  return cases;
}

class GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("GQA_DEFAULT_MODEL");
    if (path == nullptr || !Env::Default()->FileExists(path)) {
      GTEST_SKIP() << "GQA_DEFAULT_MODEL not set or missing; run scripts/setup.sh";
    }
    auto tokenizer = LoadGgufTokenizer(Env::Default(), path);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    cases_ = ReadGolden("smollm2_golden.jsonl");
    ASSERT_GE(cases_.size(), 50u);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<GoldenCase> cases_;
};

std::string Show(const std::vector<int32_t>& ids) { return ::testing::PrintToString(ids); }

TEST_F(GoldenTest, EncodeMatchesLlamaCppWithSpecialTokens) {
  int mismatches = 0;
  for (const GoldenCase& c : cases_) {
    const std::vector<int32_t> ids =
        tokenizer_->Encode(c.text, {.add_special = true, .parse_special = true});
    if (ids != c.special) ++mismatches;
    EXPECT_EQ(ids, c.special) << "text: " << nlohmann::json(c.text).dump()
                              << "\n ours: " << Show(ids) << "\n llama.cpp: " << Show(c.special);
  }
  EXPECT_EQ(mismatches, 0) << "of " << cases_.size();
}

TEST_F(GoldenTest, EncodeMatchesLlamaCppWithoutSpecialTokens) {
  for (const GoldenCase& c : cases_) {
    const std::vector<int32_t> ids =
        tokenizer_->Encode(c.text, {.add_special = true, .parse_special = false});
    EXPECT_EQ(ids, c.plain) << "text: " << nlohmann::json(c.text).dump();
  }
}

TEST_F(GoldenTest, DecodeOfGoldenIdsIsTheText) {
  for (const GoldenCase& c : cases_) {
    for (const auto* ids : {&c.special, &c.plain}) {
      const auto text = tokenizer_->Decode(*ids);
      ASSERT_TRUE(text.ok()) << text.status();
      EXPECT_EQ(*text, c.text);
      IncrementalDecoder decoder(tokenizer_.get());
      std::string streamed;
      for (const int32_t id : *ids) streamed += *decoder.Add(id);
      streamed += decoder.Finish();
      EXPECT_EQ(streamed, c.text);
    }
  }
}

TEST_F(GoldenTest, SmolLm2ChatTemplate) {
  auto chat = ChatTemplate::FromTokenizer(*tokenizer_);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->kind(), ChatTemplateKind::kChatMl);
  EXPECT_EQ(chat->default_system_prompt(),
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  const auto prompt = chat->Render({{"user", "Hi"}}, /*add_generation_prompt=*/true);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(*prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const std::vector<int32_t> ids = tokenizer_->Encode(*prompt, chat->prompt_encode_options());
  EXPECT_EQ(ids.front(), 1);  // <|im_start|>
  const auto stops = chat->StopTokenIds(*tokenizer_);
  ASSERT_TRUE(stops.ok());
  EXPECT_EQ(*stops, std::vector<int32_t>({2}));  // <|im_end|> is also eos
}

// SmolLM2's vocab and merges under llama.cpp's other pre-tokenizers
// (pre_<name>_golden.jsonl, tokenized without BOS).
TEST_F(GoldenTest, OtherPreTokenizersMatchLlamaCpp) {
  for (const std::string pre : {"gpt-2", "llama-bpe", "qwen2", "default"}) {
    TokenizerSpec spec = tokenizer_->spec();
    spec.pre_tokenizer = pre;
    auto tok = Tokenizer::Create(std::move(spec));
    ASSERT_TRUE(tok.ok()) << tok.status();
    const std::vector<GoldenCase> cases = ReadGolden("pre_" + pre + "_golden.jsonl");
    ASSERT_GE(cases.size(), 50u) << pre;
    for (const GoldenCase& c : cases) {
      EXPECT_EQ((*tok)->Encode(c.text, {.add_special = false, .parse_special = true}), c.special)
          << pre << " text: " << nlohmann::json(c.text).dump();
      EXPECT_EQ((*tok)->Encode(c.text, {.add_special = false, .parse_special = false}), c.plain)
          << pre << " text: " << nlohmann::json(c.text).dump();
    }
  }
}

// A SentencePiece vocab made from SmolLM2's: <unk> <s> </s>, the 256 byte
// pieces, then every non-control token whose bytes are valid UTF-8, with
// spaces as "▁" and score -id (earlier merges first). Must match
// derive_spm_vocab() in bench/reference/tokenize_golden.py.
TokenizerSpec DerivedSentencePieceSpec(const TokenizerSpec& smol) {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kSentencePieceBpe;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.token_types = {kTokenUnknown, kTokenControl, kTokenControl};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    spec.tokens.push_back(hex);
    spec.token_types.push_back(kTokenByte);
  }
  spec.scores.assign(spec.tokens.size(), 0.0f);
  absl::flat_hash_set<std::string> seen(spec.tokens.begin(), spec.tokens.end());
  for (size_t id = 0; id < smol.tokens.size(); ++id) {
    if (smol.token_types[id] == kTokenControl) continue;
    std::string bytes;
    bool mapped = true;
    for (const Utf8Char& c : DecodeUtf8(smol.tokens[id])) {
      const int b = Gpt2CharToByte(c.cp);
      mapped = mapped && b >= 0;
      bytes.push_back(static_cast<char>(b));
    }
    if (!mapped || bytes.empty() || SanitizeUtf8(bytes) != bytes) continue;
    const std::string piece = absl::StrReplaceAll(bytes, {{" ", "\xE2\x96\x81"}});
    if (!seen.insert(piece).second) continue;
    spec.tokens.push_back(piece);
    spec.token_types.push_back(kTokenNormal);
    spec.scores.push_back(-static_cast<float>(id));
  }
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  spec.add_space_prefix = true;
  return spec;
}

TEST_F(GoldenTest, DerivedSentencePieceMatchesLlamaCpp) {
  auto spm = Tokenizer::Create(DerivedSentencePieceSpec(tokenizer_->spec()));
  ASSERT_TRUE(spm.ok()) << spm.status();
  const std::vector<GoldenCase> cases = ReadGolden("spm_derived_golden.jsonl");
  ASSERT_GE(cases.size(), 50u);
  for (const GoldenCase& c : cases) {
    EXPECT_EQ((*spm)->Encode(c.text, {.add_special = true, .parse_special = true}), c.special)
        << "text: " << nlohmann::json(c.text).dump();
    EXPECT_EQ((*spm)->Encode(c.text, {.add_special = true, .parse_special = false}), c.plain)
        << "text: " << nlohmann::json(c.text).dump();
    const auto text = (*spm)->Decode(c.plain, {.skip_special = true});
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c.text);
  }
}

}  // namespace
}  // namespace gqa
