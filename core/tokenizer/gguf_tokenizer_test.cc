#include "core/tokenizer/gguf_tokenizer.h"

#include <string>
#include <vector>

#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "core/tokenizer/tokenizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A metadata-only GGUF holding `spec` under llama.cpp's keys.
std::string WriteTokenizerGguf(const TokenizerSpec& spec, const std::string& model,
                               bool with_ids = true) {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddString("tokenizer.ggml.model", model);
  w.AddString("tokenizer.ggml.pre", spec.pre_tokenizer);
  w.AddStringArray("tokenizer.ggml.tokens", spec.tokens);
  if (!spec.scores.empty()) w.AddFloat32Array("tokenizer.ggml.scores", spec.scores);
  w.AddInt32Array("tokenizer.ggml.token_type", spec.token_types);
  if (!spec.merges.empty()) w.AddStringArray("tokenizer.ggml.merges", spec.merges);
  if (with_ids) {
    w.AddUint32("tokenizer.ggml.bos_token_id", 1);
    w.AddUint32("tokenizer.ggml.eos_token_id", 2);
    w.AddUint32("tokenizer.ggml.padding_token_id", 2);
    w.AddBool("tokenizer.ggml.add_bos_token", false);
  }
  w.AddString("tokenizer.chat_template", "<|im_start|>...<|im_end|>");
  auto bytes = w.Write();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

absl::StatusOr<TokenizerSpec> SpecOf(const std::string& bytes) {
  auto file =
      ParseGguf(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                "test.gguf");
  if (!file.ok()) return file.status();
  return TokenizerSpecFromGguf(*file);
}

TEST(GgufTokenizerTest, ReadsByteLevelSpec) {
  const TokenizerSpec want = ByteLevelTestSpec("smollm");
  auto spec = SpecOf(WriteTokenizerGguf(want, "gpt2"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TokenizerSpec::Kind::kByteLevelBpe);
  EXPECT_EQ(spec->tokens, want.tokens);
  EXPECT_EQ(spec->token_types, want.token_types);
  EXPECT_EQ(spec->merges, want.merges);
  EXPECT_EQ(spec->pre_tokenizer, "smollm");
  EXPECT_EQ(spec->bos_id, 1);
  EXPECT_EQ(spec->eos_id, 2);
  EXPECT_EQ(spec->pad_id, 2);
  EXPECT_EQ(spec->unk_id, -1);
  EXPECT_FALSE(spec->add_bos);
  EXPECT_FALSE(spec->add_space_prefix);
  EXPECT_EQ(spec->chat_template, "<|im_start|>...<|im_end|>");
}

TEST(GgufTokenizerTest, SentencePieceDefaultsFollowLlamaCpp) {
  const TokenizerSpec want = SentencePieceTestSpec();
  auto spec = SpecOf(WriteTokenizerGguf(want, "llama", /*with_ids=*/false));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TokenizerSpec::Kind::kSentencePieceBpe);
  EXPECT_EQ(spec->scores, want.scores);
  EXPECT_EQ(spec->unk_id, 0);
  EXPECT_EQ(spec->bos_id, 1);
  EXPECT_EQ(spec->eos_id, 2);
  EXPECT_TRUE(spec->add_bos);
  EXPECT_TRUE(spec->add_space_prefix);
}

TEST(GgufTokenizerTest, LoadsThroughEnv) {
  auto env = NewMemEnv();
  ASSERT_TRUE(
      env->WriteFileAtomically("/m/tok.gguf", WriteTokenizerGguf(ByteLevelTestSpec(), "gpt2"))
          .ok());
  auto tok = LoadGgufTokenizer(env.get(), "/m/tok.gguf");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("hello world"),
              ElementsAre(ByteLevelTestId("hello"), ByteLevelTestId("Ġworld")));
  EXPECT_EQ(LoadGgufTokenizer(env.get(), "/m/missing.gguf").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GgufTokenizerTest, RejectsUnsupportedOrIncompleteMetadata) {
  auto bert = SpecOf(WriteTokenizerGguf(ByteLevelTestSpec(), "bert"));
  EXPECT_EQ(bert.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(bert.status().message(), HasSubstr("'bert'"));

  GgufWriter w;
  w.AddString("general.architecture", "llama");
  auto no_model = SpecOf(*w.Write());
  EXPECT_EQ(no_model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_model.status().message(), HasSubstr("tokenizer.ggml.model"));

  GgufWriter typed;
  typed.AddString("tokenizer.ggml.model", "gpt2");
  typed.AddString("tokenizer.ggml.tokens", "not an array");
  EXPECT_EQ(SpecOf(*typed.Write()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa
