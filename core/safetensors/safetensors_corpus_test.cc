// Checks every case of the rejection catalogue (safetensors_corpus_cases.h)
// against its reader, and that tests/testdata/safetensors/corpus/ holds
// exactly those bytes.
#include <fstream>
#include <sstream>
#include <string>

#include "core/safetensors/hf_model_config.h"
#include "core/safetensors/safetensors_checkpoint.h"
#include "core/safetensors/safetensors_corpus_cases.h"
#include "core/safetensors/safetensors_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

class SafetensorsCorpusTest : public ::testing::TestWithParam<SafetensorsCorpusCase> {};

TEST_P(SafetensorsCorpusTest, ReaderAnswersAsCatalogued) {
  const SafetensorsCorpusCase& c = GetParam();
  EXPECT_LT(c.bytes.size(), 4096u) << "keep corpus files under 4 KiB";
  const std::string display = c.name + ".bin";
  absl::Status status;
  switch (c.stage) {
    case SafetensorsCaseStage::kFile:
      status = ParseSafetensors({reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size()},
                                display)
                   .status();
      break;
    case SafetensorsCaseStage::kConfig:
      status = ModelConfigFromHfJson(c.bytes, display).status();
      break;
    case SafetensorsCaseStage::kIndex:
      status = ParseSafetensorsIndex(c.bytes, display).status();
      break;
  }
  EXPECT_EQ(status.code(), c.code) << status;
  if (c.code != absl::StatusCode::kOk) {
    EXPECT_THAT(status.message(), HasSubstr(c.phrase));
    EXPECT_THAT(status.message(), HasSubstr(display + ": "));  // names the file
  }
}

TEST_P(SafetensorsCorpusTest, CommittedFileMatches) {
  const SafetensorsCorpusCase& c = GetParam();
  const std::string path = std::string(GQA_SAFETENSORS_CORPUS_DIR) + "/" + c.name + ".bin";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing; regenerate with safetensors_make_corpus";
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_TRUE(contents.str() == c.bytes)
      << path << " is stale; regenerate: build/core/safetensors/safetensors_make_corpus "
      << "tests/testdata/safetensors/corpus";
}

INSTANTIATE_TEST_SUITE_P(Catalogue, SafetensorsCorpusTest,
                         ::testing::ValuesIn(SafetensorsCorpusCases()),
                         [](const ::testing::TestParamInfo<SafetensorsCorpusCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace gqa
