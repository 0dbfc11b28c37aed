// Checks every case of the rejection catalogue (gguf_corpus_cases.h) against
// the reader, and that tests/testdata/gguf/ holds exactly those bytes.
#include <fstream>
#include <sstream>
#include <string>

#include "core/gguf/gguf_corpus_cases.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

class GgufCorpusTest : public ::testing::TestWithParam<GgufCorpusCase> {};

TEST_P(GgufCorpusTest, ReaderAnswersAsCatalogued) {
  const GgufCorpusCase& c = GetParam();
  EXPECT_LT(c.bytes.size(), 4096u) << "keep corpus files under 4 KiB";
  const std::string display = c.name + ".bin";
  absl::StatusOr<GgufFile> file =
      ParseGguf({reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size()}, display);
  absl::Status status = file.status();
  if (c.stage == GgufCaseStage::kModelConfig) {
    ASSERT_TRUE(file.ok()) << file.status();
    status = ModelConfigFromGguf(*file).status();
  }
  EXPECT_EQ(status.code(), c.code) << status;
  if (c.code != absl::StatusCode::kOk) {
    EXPECT_THAT(status.message(), HasSubstr(c.phrase));
    EXPECT_THAT(status.message(), HasSubstr(display + ": "));  // names the file
  }
}

TEST_P(GgufCorpusTest, CommittedFileMatches) {
  const GgufCorpusCase& c = GetParam();
  const std::string path = std::string(GQA_GGUF_CORPUS_DIR) + "/" + c.name + ".bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing; regenerate with gguf_make_corpus";
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_TRUE(contents.str() == c.bytes)
      << path << " is stale; regenerate: build/core/gguf/gguf_make_corpus tests/testdata/gguf";
}

INSTANTIATE_TEST_SUITE_P(Catalogue, GgufCorpusTest, ::testing::ValuesIn(GgufCorpusCases()),
                         [](const ::testing::TestParamInfo<GgufCorpusCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace gqa
