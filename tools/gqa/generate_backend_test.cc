// `gqa generate --backend`: cpu or cuda; on a machine without a GPU (or a
// build without CUDA) --backend cuda is a clear exit 1 before any model
// loads, an unknown backend and cuda with --tp are exit 2.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa/run_gqa_for_test.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

TEST(GenerateBackendTest, CudaWithoutADeviceOrAnUnknownBackendIsAClearExit) {
  GqaRun cuda = RunGqaForTesting(
      GQA_BINARY, {"generate", "--backend", "cuda", "--model", "/nonexistent/m.gguf", "hi"});
  EXPECT_EQ(cuda.exit_code, 1);
  if (cuda.err.find("cannot") != std::string::npos &&
      cuda.err.find("/nonexistent/m.gguf") != std::string::npos) {
    GTEST_SKIP() << "this machine has a GPU: the backend came up and the model did not load";
  }
  EXPECT_THAT(cuda.err, HasSubstr("--backend cuda: "));
  GqaRun unknown = RunGqaForTesting(GQA_BINARY, {"generate", "--backend", "tpu", "hi"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("--backend tpu"));
  GqaRun tp = RunGqaForTesting(GQA_BINARY, {"generate", "--backend", "cuda", "--tp", "2", "hi"});
  EXPECT_EQ(tp.exit_code, 2);
  EXPECT_THAT(tp.err, HasSubstr("--tp"));
}

}  // namespace
}  // namespace gqa
