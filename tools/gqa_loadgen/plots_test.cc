#include "tools/gqa_loadgen/plots.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

PlotSet TwoRuns() {
  PlotSet set;
  for (int run = 0; run < 2; ++run) {
    PlotRun p;
    p.label = absl::StrCat("rate ", run + 1);
    for (int i = 0; i < 10; ++i) {
      RequestRecord r;
      r.index = i;
      r.chunks = {{(100 + i) * 1'000'000LL, 1}, {(120 + i) * 1'000'000LL, 1}};
      r.end_ns = (130 + i) * 1'000'000LL;
      p.records.push_back(r);
    }
    p.result = ComputeRunResult(p.records, Slo());
    set.runs.push_back(p);
  }
  set.sweep_variable = "rate";
  set.sweep_values = {1, 2};
  return set;
}

TEST(PlotsTest, ScriptDrawsCdfsAndSweepCurves) {
  std::vector<std::string> pngs;
  const std::string script = GnuplotScript("/out", TwoRuns(), &pngs);
  EXPECT_THAT(script, HasSubstr("pngcairo"));
  EXPECT_THAT(script, HasSubstr("set output '/out/ttft_cdf.png'"));
  EXPECT_THAT(script, HasSubstr("'/out/ttft_1.dat' using 1:2 with steps lw 2 title 'rate 2'"));
  EXPECT_THAT(script, HasSubstr("set output '/out/throughput_ttft.png'"));
  EXPECT_THAT(pngs, ::testing::Contains("/out/throughput_tpot.png"));
  EXPECT_EQ(pngs.size(), 4u + 4u);
}

TEST(PlotsTest, WritesDataFilesAndRefusesQuotes) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/plots-", getpid());
  absl::StatusOr<PlotFiles> files = WritePlotFiles(dir, TwoRuns());
  ASSERT_TRUE(files.ok()) << files.status();
  std::ifstream cdf(dir + "/ttft_0.dat");
  std::string first;
  std::getline(cdf, first);
  EXPECT_EQ(first, "100.0000 0.100000");
  EXPECT_TRUE(std::filesystem::exists(dir + "/sweep.dat"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/plots.gp"));
  EXPECT_THAT(WritePlotFiles("/tmp/it's", TwoRuns()).status().message(), HasSubstr("--plot"));
  std::filesystem::remove_all(dir);
}

TEST(PlotsTest, FindsExecutablesOnThePath) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/bin-", getpid());
  std::filesystem::create_directories(dir);
  const std::string tool = dir + "/gnuplot";
  std::ofstream(tool) << "#!/bin/sh\n";
  chmod(tool.c_str(), 0755);
  EXPECT_EQ(FindExecutable("gnuplot", absl::StrCat("/nonexistent:", dir)), tool);
  EXPECT_FALSE(FindExecutable("gnuplot", "/nonexistent").has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gqa::loadgen
