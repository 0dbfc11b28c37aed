#include "core/tokenizer/hf_tokenizer_json.h"

#include <string>

#include "core/env.h"
#include "core/tokenizer/tokenizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// tokenizer.json for ByteLevelTestSpec() with SmolLM2's pre-tokenizer.
Json ByteLevelJson() {
  const TokenizerSpec spec = ByteLevelTestSpec();
  Json vocab = Json::object();
  Json added = Json::array();
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.token_types[i] == kTokenNormal) {
      vocab[spec.tokens[i]] = i;
    } else {
      added.push_back({{"id", i},
                       {"content", spec.tokens[i]},
                       {"special", spec.token_types[i] == kTokenControl}});
    }
  }
  return {{"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Digits"}, {"individual_digits", true}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", spec.merges}}}};
}

// tokenizer.json for SentencePieceTestSpec() in Llama-2 style (merges, no scores).
Json SentencePieceJson() {
  const TokenizerSpec spec = SentencePieceTestSpec();
  Json vocab = Json::object();
  for (size_t i = 0; i < spec.tokens.size(); ++i) vocab[spec.tokens[i]] = i;
  return {{"added_tokens",
           {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
            {{"id", 1}, {"content", "<s>"}, {"special", true}},
            {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "▁"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}}}}},
          {"pre_tokenizer", nullptr},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single",
             {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}}},
          {"model",
           {{"type", "BPE"},
            {"vocab", vocab},
            {"unk_token", "<unk>"},
            {"byte_fallback", true},
            {"merges",
             {"h e", "l l", "he ll", "hell o", "▁ hello", "▁ w", "o r", "▁w or", "l d", "▁wor ld",
              "▁ ▁"}}}}};
}

TEST(HfTokenizerJsonTest, ByteLevelWithDigitsIsSmollm) {
  const Json config = {{"bos_token", "<|im_start|>"},
                       {"eos_token", {{"content", "<|im_end|>"}}},
                       {"chat_template", "<|im_start|>x<|im_end|>"}};
  auto spec = TokenizerSpecFromHfJson(ByteLevelJson().dump(), config.dump());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TokenizerSpec::Kind::kByteLevelBpe);
  EXPECT_EQ(spec->pre_tokenizer, "smollm");
  EXPECT_EQ(spec->tokens, ByteLevelTestSpec().tokens);
  EXPECT_EQ(spec->token_types, ByteLevelTestSpec().token_types);
  EXPECT_EQ(spec->bos_id, 1);
  EXPECT_EQ(spec->eos_id, 2);
  EXPECT_FALSE(spec->add_bos);
  EXPECT_EQ(spec->chat_template, "<|im_start|>x<|im_end|>");
  auto tok = MustCreate(*spec);
  EXPECT_THAT(tok->Encode("hello world"),
              ElementsAre(ByteLevelTestId("hello"), ByteLevelTestId("Ġworld")));
}

TEST(HfTokenizerJsonTest, SentencePieceStyleFromNormalizerAndMerges) {
  auto spec = TokenizerSpecFromHfJson(SentencePieceJson().dump(), "");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TokenizerSpec::Kind::kSentencePieceBpe);
  EXPECT_TRUE(spec->add_space_prefix);
  EXPECT_TRUE(spec->add_bos);  // from the post-processor template
  EXPECT_EQ(spec->bos_id, 1);
  EXPECT_EQ(spec->unk_id, 0);
  EXPECT_EQ(spec->token_types[0], kTokenUnknown);
  EXPECT_EQ(spec->token_types[3 + 0x0A], kTokenByte);
  auto tok = MustCreate(*spec);
  EXPECT_THAT(tok->Encode("hello world ü"),
              ElementsAre(1, SentencePieceTestId("▁hello"), SentencePieceTestId("▁world"),
                          SentencePieceTestId("▁"), SentencePieceTestId("<0xC3>"),
                          SentencePieceTestId("<0xBC>")));
}

TEST(HfTokenizerJsonTest, ChatTemplateListPicksDefault) {
  const Json config = {
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "D"}}}}};
  auto spec = TokenizerSpecFromHfJson(ByteLevelJson().dump(), config.dump());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->chat_template, "D");
}

TEST(HfTokenizerJsonTest, MalformedInputIsInvalidArgument) {
  auto code = [](const std::string& json) {
    return TokenizerSpecFromHfJson(json, "").status().code();
  };
  EXPECT_EQ(code("{"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("[]"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("{}"), absl::StatusCode::kInvalidArgument);  // no model
  EXPECT_EQ(code(std::string(100000, '[')), absl::StatusCode::kInvalidArgument);
  Json j = ByteLevelJson();
  j["model"]["vocab"]["Ġ"] = "not a number";
  EXPECT_EQ(code(j.dump()), absl::StatusCode::kInvalidArgument);
  j = ByteLevelJson();
  j["model"]["vocab"]["huge"] = 1 << 28;
  EXPECT_EQ(code(j.dump()), absl::StatusCode::kInvalidArgument);
  j = ByteLevelJson();
  j["added_tokens"][0]["content"] = 5;
  EXPECT_EQ(code(j.dump()), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenizerSpecFromHfJson(ByteLevelJson().dump(), "{oops").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HfTokenizerJsonTest, UnsupportedModelsAreUnimplemented) {
  Json j = ByteLevelJson();
  j["model"]["type"] = "Unigram";
  const auto unigram = TokenizerSpecFromHfJson(j.dump(), "");
  EXPECT_EQ(unigram.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(unigram.status().message(), HasSubstr("Unigram"));
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"}, {"pattern", {{"Regex", "x+"}}}},
                          {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  EXPECT_EQ(TokenizerSpecFromHfJson(j.dump(), "").status().code(),
            absl::StatusCode::kUnimplemented);
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}};  // RoBERTa style
  EXPECT_EQ(TokenizerSpecFromHfJson(j.dump(), "").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(HfTokenizerJsonTest, LoadsFromADirectory) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->WriteFileAtomically("/m/tokenizer.json", ByteLevelJson().dump()).ok());
  auto tok = LoadHfTokenizer(env.get(), "/m");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(static_cast<size_t>((*tok)->vocab_size()), ByteLevelTestSpec().tokens.size());
  EXPECT_EQ(LoadHfTokenizer(env.get(), "/nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gqa
