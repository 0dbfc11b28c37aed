// Runs the built `gqa` binary (GQA_BINARY, from CMake): `gqa convert` on tiny
// random models written to the test's temp dir, and its exit status and
// one-line messages on bad arguments and failures.
#include <string>
#include <vector>

#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_model_config.h"
#include "core/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa/run_gqa_for_test.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

GqaRun Convert(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"convert"};
  all.insert(all.end(), args.begin(), args.end());
  return RunGqaForTesting(GQA_BINARY, all);
}

// One line on stderr starting "gqa convert: ", nothing on stdout.
void ExpectOneLineError(const GqaRun& run, int exit_code, const std::string& text) {
  EXPECT_EQ(run.exit_code, exit_code) << run.err;
  EXPECT_THAT(run.err, StartsWith("gqa convert: "));
  EXPECT_THAT(run.err, HasSubstr(text));
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_EQ(run.out, "");
}

class ConvertCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "/" + info->name();
    ASSERT_TRUE(env_->CreateDirs(dir_).ok());
    in_ = dir_ + "/in.gguf";
    out_ = dir_ + "/out.gguf";
    RandomLlamaOptions options;
    options.num_query_heads = 6;
    options.num_kv_heads = 3;
    options.hidden_size = 48;
    ASSERT_TRUE(env_->WriteFileAtomically(in_, RandomLlamaGguf(options)).ok());
  }

  Env* env_ = Env::Default();
  std::string dir_, in_, out_;
};

TEST_F(ConvertCommandTest, ConvertsToMqaWithAllMetadata) {
  GqaRun run = Convert({"--kv-heads", "1", "--dtype", "f32", in_, out_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("wrote " + out_ + ": 21 tensors as f32"));
  EXPECT_THAT(run.out, HasSubstr("KV heads 3 -> 1 (4 K/V tensors pooled)"));
  absl::StatusOr<std::unique_ptr<GgufModelFile>> in = OpenGguf(env_, in_);
  absl::StatusOr<std::unique_ptr<GgufModelFile>> out = OpenGguf(env_, out_);
  ASSERT_TRUE(in.ok() && out.ok());
  EXPECT_EQ((*out)->file().metadata().size(), (*in)->file().metadata().size());
  EXPECT_EQ(*(*out)->file().GetString("tokenizer.chat_template"),
            *(*in)->file().GetString("tokenizer.chat_template"));
  EXPECT_EQ((*out)->file().GetStringArray("tokenizer.ggml.tokens")->size(), 259u);
  absl::StatusOr<ModelConfig> config = ModelConfigFromGguf((*out)->file());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_kv_heads, 1);
  EXPECT_EQ(config->num_query_heads, 6);
  EXPECT_EQ((*out)->file().FindTensor("blk.0.attn_k.weight")->shape,
            (std::vector<int64_t>{48, 8}));
}

TEST_F(ConvertCommandTest, DefaultsToF16) {
  GqaRun run = Convert({in_, out_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  absl::StatusOr<std::unique_ptr<GgufModelFile>> out = OpenGguf(env_, out_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*(*out)->file().GetUint("general.file_type"), 1u);
  EXPECT_EQ((*out)->file().FindTensor("blk.1.ffn_up.weight")->type, GgmlType::kF16);
  EXPECT_EQ((*out)->file().FindTensor("blk.1.ffn_norm.weight")->type, GgmlType::kF32);
  EXPECT_EQ(*(*out)->file().GetUint("llama.attention.head_count_kv"), 3u);
}

TEST_F(ConvertCommandTest, BadArgumentsExitTwo) {
  ExpectOneLineError(Convert({"--kv-heads", "2", in_, out_}), 2,
                     "--kv-heads 2 does not divide the model's 3 KV heads; choose one of 1, 3");
  ExpectOneLineError(Convert({"--kv-heads", "0", in_, out_}), 2, "--kv-heads '0'");
  ExpectOneLineError(Convert({"--kv-heads", "6", in_, out_}), 2, "exceeds the model's 3 KV heads");
  ExpectOneLineError(Convert({"--dtype", "q4_0", in_, out_}), 2, "--dtype 'q4_0'");
  ExpectOneLineError(Convert({in_}), 2, "expected the input and output files");
  ExpectOneLineError(Convert({"--bogus", in_, out_}), 2, "--bogus");
  EXPECT_FALSE(env_->FileExists(out_));
}

TEST_F(ConvertCommandTest, FailuresExitOne) {
  ExpectOneLineError(Convert({dir_ + "/missing.gguf", out_}), 1, "missing.gguf");
  ExpectOneLineError(Convert({"--kv-heads", "1", dir_ + "/missing.gguf", out_}), 1,
                     "missing.gguf");
  ExpectOneLineError(Convert({in_, dir_ + "/no/such/dir/out.gguf"}), 1, "no/such/dir/out.gguf");
  TinyLlamaOptions q5;
  q5.hidden_size = 32;
  q5.num_query_heads = 4;
  q5.head_dim = 8;
  q5.intermediate_size = 32;
  q5.matrix_type = GgmlType::kQ5_0;
  const std::string q5_path = dir_ + "/q5.gguf";
  ASSERT_TRUE(env_->WriteFileAtomically(q5_path, TinyLlamaGguf(q5)).ok());
  ExpectOneLineError(Convert({q5_path, out_}), 1, "tensor 'token_embd.weight' has type Q5_0");
  EXPECT_FALSE(env_->FileExists(out_));
}

TEST_F(ConvertCommandTest, HelpListsTheFlags) {
  GqaRun run = Convert({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("--kv-heads G"));
  EXPECT_THAT(run.out, HasSubstr("--dtype D"));
}

}  // namespace
}  // namespace gqa
