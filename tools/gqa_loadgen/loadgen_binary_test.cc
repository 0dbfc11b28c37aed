// The built gqa-loadgen binary without a server: --help, bad flags (exit 2,
// the flag named), and compare over two result files.
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/gqa_loadgen/report_json.h"
#include "tools/gqa_loadgen/run_binary_for_test.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

BinaryRun Loadgen(const std::vector<std::string>& args) {
  return RunBinaryForTesting(GQA_LOADGEN_BINARY, args);
}

TEST(LoadgenBinaryTest, HelpExitsZero) {
  const BinaryRun run = Loadgen({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("usage: gqa-loadgen"));
  EXPECT_THAT(run.out, HasSubstr("--shared-prefix"));
}

TEST(LoadgenBinaryTest, BadFlagsExitTwoNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"--rate", "1", "--requests", "1"}, "--target"},
      {{"--target", "127.0.0.1:1", "--rate", "-2", "--requests", "1"}, "--rate '-2'"},
      {{"--target", "127.0.0.1:1", "--concurrency", "x", "--requests", "1"}, "--concurrency"},
      {{"--target", "127.0.0.1:1", "--rate", "1", "--requests", "1", "--frobnicate"},
       "--frobnicate"},
      {{"--target", "127.0.0.1:1", "--rate", "1", "--duration", "soon"}, "--duration 'soon'"},
      {{"--target", "127.0.0.1:1", "--rate", "1", "--requests", "1", "--input-len", "9:3"},
       "--input-len '9:3'"},
      {{"--target", "127.0.0.1:1", "--rate", "1", "--requests", "1", "--kv-dtype", "int4"},
       "--kv-dtype"},
  };
  for (const Case& c : cases) {
    const BinaryRun run = Loadgen(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.named << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr(c.named));
  }
}

TEST(LoadgenBinaryTest, DatasetErrorsAreClearBeforeConnecting) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/bad-", getpid(), ".jsonl");
  std::ofstream(path) << "{\"prompt\": \"ok\"}\n{\"promt\": \"typo\"}\n";
  const BinaryRun run = Loadgen({"--target", "127.0.0.1:1", "--rate", "1", "--requests", "1",
                                 "--dataset", path});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr(absl::StrCat(path, ":2: unknown key \"promt\"")));
  unlink(path.c_str());
}

TEST(LoadgenBinaryTest, CompareTwoFiles) {
  const std::string a = absl::StrCat(::testing::TempDir(), "/a-", getpid(), ".json");
  const std::string b = absl::StrCat(::testing::TempDir(), "/b-", getpid(), ".json");
  RunResult r;
  r.ttft_ms.count = 1;
  r.ttft_ms.p50 = 200;
  nlohmann::json ja = RunResultToJson(r, std::nullopt);
  ja["schema"] = kResultSchema;
  r.ttft_ms.p50 = 100;
  nlohmann::json jb = RunResultToJson(r, std::nullopt);
  jb["schema"] = kResultSchema;
  std::ofstream(a) << ja.dump();
  std::ofstream(b) << jb.dump();
  const BinaryRun run = Loadgen({"compare", a, b});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, ::testing::ContainsRegex("ttft_ms.p50 +200 +100 +-50.0%"));
  const BinaryRun bad = Loadgen({"compare", a, "/nonexistent.json"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("/nonexistent.json"));
  unlink(a.c_str());
  unlink(b.c_str());
}

}  // namespace
}  // namespace gqa::loadgen
