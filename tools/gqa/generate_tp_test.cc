// `gqa generate --tp 3` as a person runs it: this process is rank 0 and
// starts ranks 1-2 as gqa-worker processes; the greedy ids equal tp=1's on
// the default model, no rank is left afterwards, and an invalid tp exits 2
// naming the rule.
#include <dirent.h>

#include <cstdlib>
#include <fstream>

#include "core/env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa/run_gqa_for_test.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// Processes (not zombies) whose command line holds `needle`.
int CountProcesses(const std::string& needle) {
  int count = 0;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline("/proc/" + pid + "/cmdline");
    std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    for (char& c : text) c = c == '\0' ? ' ' : c;
    if (text.find(needle) != std::string::npos) ++count;
  }
  closedir(proc);
  return count;
}

TEST(GenerateTpTest, Tp3GivesTp1sIdsAndLeavesNoRank) {
  const char* model = std::getenv("GQA_DEFAULT_MODEL");
  if (model == nullptr || !Env::Default()->FileExists(model)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  }
  const std::vector<std::string> args = {"generate", "--model", model, "--threads", "1", "--raw",
                                         "--ids", "--max-tokens", "8", "The capital of France is"};
  GqaRun tp1 = RunGqaForTesting(GQA_BINARY, args);
  ASSERT_EQ(tp1.exit_code, 0) << tp1.err;
  std::vector<std::string> tp_args = args;
  tp_args.insert(tp_args.begin() + 1, {"--tp", "3"});
  GqaRun tp3 = RunGqaForTesting(GQA_BINARY, tp_args);
  ASSERT_EQ(tp3.exit_code, 0) << tp3.err;
  EXPECT_EQ(tp3.out, tp1.out);
  EXPECT_THAT(tp3.err, HasSubstr("tp follower rank=2 ends steps="));
  EXPECT_EQ(CountProcesses(std::string("--tp 3 --rank ")), 0);

  GqaRun bad = RunGqaForTesting(GQA_BINARY, {"generate", "--model", model, "--tp", "2", "hi"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("query heads (9)"));
}

// --tp 1 --tp-comm nccl: a group of one GPU whose collectives all run
// through NCCL. On a machine with a GPU the ids equal the plain run's; on one
// without (or a build without NCCL) it exits at once saying why.
TEST(GenerateTpTest, TpCommNcclRunsAGroupOfOneOrSaysWhyNot) {
  const char* model = std::getenv("GQA_DEFAULT_MODEL");
  if (model == nullptr || !Env::Default()->FileExists(model)) {
    GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  }
  const std::vector<std::string> args = {"generate", "--model", model, "--threads", "1", "--raw",
                                         "--ids", "--max-tokens", "8", "The capital of France is"};
  std::vector<std::string> nccl_args = args;
  nccl_args.insert(nccl_args.begin() + 1, {"--tp-comm", "nccl"});
  GqaRun nccl = RunGqaForTesting(GQA_BINARY, nccl_args);
  if (nccl.exit_code == 2) {
    EXPECT_THAT(nccl.err, HasSubstr("no NCCL"));
    return;
  }
  if (nccl.exit_code != 0) {
    EXPECT_EQ(nccl.exit_code, 1);
    EXPECT_THAT(nccl.err, HasSubstr("tp nccl: "));
    GTEST_SKIP() << "no usable GPU: " << nccl.err;
  }
  GqaRun plain = RunGqaForTesting(GQA_BINARY, args);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(nccl.out, plain.out);
  // The same with the model on the GPU: a group of one changes nothing.
  std::vector<std::string> cuda_args = args;
  cuda_args.insert(cuda_args.begin() + 1, {"--backend", "cuda"});
  std::vector<std::string> cuda_nccl_args = cuda_args;
  cuda_nccl_args.insert(cuda_nccl_args.begin() + 1, {"--tp-comm", "nccl"});
  GqaRun cuda = RunGqaForTesting(GQA_BINARY, cuda_args);
  GqaRun cuda_nccl = RunGqaForTesting(GQA_BINARY, cuda_nccl_args);
  ASSERT_EQ(cuda.exit_code, 0) << cuda.err;
  ASSERT_EQ(cuda_nccl.exit_code, 0) << cuda_nccl.err;
  EXPECT_EQ(cuda_nccl.out, cuda.out);
}

}  // namespace
}  // namespace gqa
