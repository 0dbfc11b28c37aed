// `gqa kv-size` on the default model's GGUF file (SmolLM2-135M-Instruct,
// fetched by scripts/setup.sh into $GQA_CACHE_DIR or ~/.cache/gqaserve):
// the shape comes from the file's metadata and the figures follow the formula.
// Skips when the model has not been fetched.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/run_gqa_for_test.h"

namespace {

using nlohmann::json;

std::string DefaultModelPath() {
  const char* cache = std::getenv("GQA_CACHE_DIR");
  const char* home = std::getenv("HOME");
  std::string dir =
      cache != nullptr ? cache : std::string(home != nullptr ? home : "") + "/.cache/gqaserve";
  return dir + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

TEST(KvSizeModelTest, DefaultModelGgufMatchesTheFormula) {
  const std::string path = DefaultModelPath();
  if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << "no default model at " << path;
  gqa::GqaRun run =
      gqa::RunGqaForTesting(GQA_BINARY, {"kv-size", path, "--kv-dtype", "fp8-e4m3", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json j = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << run.out;
  EXPECT_EQ(j["model_source"], "gguf");
  EXPECT_EQ(j["num_layers"], 30);
  EXPECT_EQ(j["num_query_heads"], 9);
  EXPECT_EQ(j["num_kv_heads"], 3);
  EXPECT_EQ(j["head_dim"], 64);
  const int64_t ctx = j["model_context_tokens"].get<int64_t>();
  ASSERT_GT(ctx, 0);
  EXPECT_EQ(j["context_tokens"], ctx);
  const int64_t slots = (ctx + 15) / 16 * 16;
  EXPECT_EQ(j["kv_bytes_per_sequence_formula"], int64_t{30} * 3 * 2 * ctx * 64 * 1);
  EXPECT_EQ(j["kv_bytes_per_sequence"], int64_t{30} * 3 * 2 * slots * (64 + 4));

  run = gqa::RunGqaForTesting(GQA_BINARY, {"kv-size", path, "--tp", "9"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, ::testing::HasSubstr("--tp 9"));
}

}  // namespace
