#include "worker/engine/model_file.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

TEST(ModelFileTest, OpensAGgufWithItsTokenizerAndFingerprint) {
  const std::string path = absl::StrCat(testing::TempDir(), "/model-file-", getpid(), ".gguf");
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(path, RandomLlamaGguf({.seed = 3})).ok());
  absl::StatusOr<ModelFile> file = OpenModelFile(Env::Default(), path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->name, absl::StrCat("model-file-", getpid()));
  EXPECT_EQ(file->config().vocab_size, 259);
  EXPECT_EQ(file->tokenizer->vocab_size(), 259);
  EXPECT_EQ(file->fingerprint().size(), 64u);
  EXPECT_EQ(file->tokenizer->Fingerprint().size(), 64u);

  const std::string other = path + ".other.gguf";
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(other, RandomLlamaGguf({.seed = 4})).ok());
  absl::StatusOr<ModelFile> second = OpenModelFile(Env::Default(), other);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->fingerprint(), file->fingerprint());  // other weights
  EXPECT_EQ(second->tokenizer->Fingerprint(), file->tokenizer->Fingerprint());  // same vocab
}

TEST(ModelFileTest, AMissingFileNamesThePath) {
  absl::StatusOr<ModelFile> file = OpenModelFile(Env::Default(), "/nonexistent/m.gguf");
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("/nonexistent/m.gguf"));
}

TEST(ModelFileTest, NameDropsTheDirectoryAndTheGgufExtension) {
  EXPECT_EQ(ModelNameFromPath("/x/SmolLM2-135M-Instruct.Q4_1.gguf"), "SmolLM2-135M-Instruct.Q4_1");
  EXPECT_EQ(ModelNameFromPath("/x/Llama-3.2-1B/"), "Llama-3.2-1B");
  EXPECT_EQ(ModelNameFromPath("plain"), "plain");
}

}  // namespace
}  // namespace gqa
