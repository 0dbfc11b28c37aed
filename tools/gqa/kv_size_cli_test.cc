// Runs the built `gqa` binary (GQA_BINARY, from CMake) as a user would and
// checks its JSON, its table and its exit status on bad flags.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/gguf/gguf_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/run_gqa_for_test.h"

namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using Result = ::gqa::GqaRun;

Result RunGqa(const std::vector<std::string>& args) {
  return ::gqa::RunGqaForTesting(GQA_BINARY, args);
}

json RunJson(std::vector<std::string> args) {
  args.insert(args.begin(), "kv-size");
  args.push_back("--json");
  Result result = RunGqa(args);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  json parsed = json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << result.out;
  return parsed;
}

TEST(KvSizeCliTest, JsonIsOneObjectWithTheFormulaFigures) {
  json j = RunJson({"llama-2-70b", "--ctx", "4096"});
  ASSERT_TRUE(j.is_object()) << j.dump();
  EXPECT_EQ(j["model"], "llama-2-70b");
  EXPECT_EQ(j["num_kv_heads"], 8);
  EXPECT_EQ(j["kv_dtype"], "bf16");
  EXPECT_EQ(j["kv_policy"], "full");
  EXPECT_EQ(j["kv_bytes_per_token"], 327680);
  EXPECT_EQ(j["kv_scale_bytes_per_token"], 0);
  EXPECT_EQ(j["kv_bytes_per_sequence_formula"], 1342177280);
  EXPECT_EQ(j["kv_bytes_per_sequence"], 1342177280);
  EXPECT_FALSE(j.contains("max_sequences"));
}

TEST(KvSizeCliTest, WorkedExampleThroughKvHeads) {
  EXPECT_EQ(RunJson({"llama-2-70b", "--kv-heads", "64"})["kv_bytes_per_sequence"], 10737418240);
  EXPECT_EQ(RunJson({"llama-2-70b", "--kv-heads=8"})["kv_bytes_per_sequence"], 1342177280);
  json mqa = RunJson({"llama-2-70b", "--kv-heads", "1"});
  EXPECT_EQ(mqa["kv_bytes_per_sequence"], 167772160);
  EXPECT_EQ(mqa["attention"], "MQA");
}

TEST(KvSizeCliTest, MemGivesMaxSequences) {
  json j = RunJson({"llama-2-70b", "--mem", "80GiB"});
  EXPECT_EQ(j["mem_bytes"], int64_t{80} << 30);
  EXPECT_EQ(j["max_sequences"], 64);
  j = RunJson({"llama-2-70b", "--mem=80GiB", "--tp", "8"});
  EXPECT_EQ(j["kv_bytes_per_sequence_per_rank"], 1342177280 / 8);
  EXPECT_EQ(j["max_sequences"], 512);
}

TEST(KvSizeCliTest, Fp8PaddingPoliciesAndTp) {
  json j = RunJson({"smollm2-135m", "--kv-dtype", "fp8-e4m3", "--ctx", "17"});
  EXPECT_EQ(j["kv_scale_bytes_per_token"].get<int64_t>() * 16, j["kv_bytes_per_token"]);
  EXPECT_EQ(j["slots_per_sequence"], 32);
  EXPECT_EQ(j["kv_bytes_per_sequence_formula"], 30 * 3 * 2 * 17 * 64);
  EXPECT_EQ(j["kv_bytes_per_sequence"], 30 * 3 * 2 * 32 * (64 + 4));

  j = RunJson({"llama-2-70b", "--ctx", "100000", "--kv-policy", "streaming:4+252"});
  EXPECT_EQ(j["tokens_held"], 256);
  EXPECT_EQ(j["slots_per_sequence"], 272);  // the bound plus one step of new tokens
  EXPECT_EQ(j["kv_bytes_per_sequence"], 272 * 327680);

  j = RunJson({"smollm2-135m", "--tp", "3"});
  EXPECT_EQ(j["kv_bytes_per_sequence_per_rank"].get<int64_t>() * 3, j["kv_bytes_per_sequence"]);
  j = RunJson({"llama-2-70b", "--tp", "16"});
  EXPECT_EQ(j["kv_replicas"], 2);
  EXPECT_EQ(j["kv_bytes_per_sequence_per_rank"], 1342177280 / 8);
}

TEST(KvSizeCliTest, ListsGiveAnArrayInOrder) {
  json j = RunJson({"llama-2-70b", "--kv-heads", "64,8,1", "--kv-dtype", "bf16,fp8-e4m3"});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 6u);
  EXPECT_EQ(j[0]["num_kv_heads"], 64);
  EXPECT_EQ(j[0]["kv_dtype"], "bf16");
  EXPECT_EQ(j[1]["kv_dtype"], "fp8-e4m3");
  EXPECT_EQ(j[5]["num_kv_heads"], 1);
  EXPECT_EQ(j[4]["kv_bytes_per_sequence"], 167772160);
}

TEST(KvSizeCliTest, CustomShape) {
  json j = RunJson({"custom", "--layers", "80", "--query-heads", "64", "--kv-heads", "8",
                    "--head-dim", "128", "--ctx", "4096"});
  EXPECT_EQ(j["kv_bytes_per_sequence"], 1342177280);
  EXPECT_EQ(j["model_source"], "custom");
}

TEST(KvSizeCliTest, TableForPeople) {
  Result result = RunGqa({"kv-size", "llama-2-70b", "--mem", "80GiB"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("GQA-8"));
  EXPECT_THAT(result.out, HasSubstr("1.25 GiB"));
  EXPECT_THAT(result.out, HasSubstr("1,342,177,280 bytes"));
  EXPECT_THAT(result.out, HasSubstr("sequences in 80.00 GiB"));
  EXPECT_EQ(result.err, "");
}

std::string WriteTempFile(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(KvSizeCliTest, GgufFileGivesTheShape) {
  gqa::TinyLlamaOptions options;
  options.num_layers = 2;
  options.num_query_heads = 4;
  options.num_kv_heads = 2;
  options.head_dim = 8;
  options.hidden_size = 32;
  options.intermediate_size = 64;
  options.vocab_size = 64;
  options.context_tokens = 100;
  const std::string path = WriteTempFile("kv_size_tiny.gguf", gqa::TinyLlamaGguf(options));
  json j = RunJson({path, "--kv-dtype", "fp8-e5m2"});
  EXPECT_EQ(j["model_source"], "gguf");
  EXPECT_EQ(j["num_layers"], 2);
  EXPECT_EQ(j["num_kv_heads"], 2);
  EXPECT_EQ(j["head_dim"], 8);
  EXPECT_EQ(j["context_tokens"], 100);
  EXPECT_EQ(j["kv_bytes_per_sequence_formula"], 2 * 2 * 2 * 100 * 8 * 1);
  EXPECT_EQ(j["kv_bytes_per_sequence"], 2 * 2 * 2 * 112 * (8 + 4));  // 7 blocks of 16

  j = RunJson({path, "--kv-heads", "1", "--tp", "2"});
  EXPECT_EQ(j["attention"], "MQA");
  EXPECT_EQ(j["kv_replicas"], 2);

  const std::string junk = WriteTempFile("kv_size_junk.gguf", "not a gguf file at all");
  Result result = RunGqa({"kv-size", junk});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_LT(result.exit_code, 128) << "crashed";
  EXPECT_THAT(result.err, HasSubstr(junk));
  EXPECT_EQ(result.out, "");
}

void ExpectUsageError(const std::vector<std::string>& args, const std::string& needle) {
  std::vector<std::string> full = {"kv-size"};
  full.insert(full.end(), args.begin(), args.end());
  Result result = RunGqa(full);
  std::string joined;
  for (const std::string& arg : args) joined += arg + " ";
  EXPECT_EQ(result.exit_code, 2) << joined << "\n" << result.err;
  EXPECT_THAT(result.err, HasSubstr(needle)) << joined;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_EQ(result.out, "") << joined;
}

TEST(KvSizeCliTest, BadFlagsExitTwoNamingTheFlag) {
  ExpectUsageError({"llama-2-70b", "--kv-heads", "5"}, "--kv-heads 5");
  ExpectUsageError({"llama-2-70b", "--kv-heads", "0"}, "--kv-heads '0'");
  ExpectUsageError({"llama-2-70b", "--kv-heads", "128"}, "--kv-heads 128");
  ExpectUsageError({"llama-2-70b", "--kv-dtype", "fp9"}, "--kv-dtype 'fp9'");
  ExpectUsageError({"llama-2-70b", "--kv-policy", "h2o:5"}, "--kv-policy 'h2o:5'");
  ExpectUsageError({"llama-2-70b", "--kv-policy", "window:0"}, "--kv-policy 'window:0'");
  ExpectUsageError({"llama-2-70b", "--ctx", "abc"}, "--ctx 'abc'");
  ExpectUsageError({"llama-2-70b", "--ctx", "0"}, "--ctx '0'");
  ExpectUsageError({"llama-2-70b", "--ctx"}, "--ctx needs a value");
  ExpectUsageError({"llama-2-70b", "--ctx", "999999999999999999"}, "overflows");
  ExpectUsageError({"llama-2-70b", "--mem", "80G"}, "--mem '80G'");
  ExpectUsageError({"llama-2-70b", "--tp", "0"}, "--tp '0'");
  ExpectUsageError({"llama-2-70b", "--tp", "3"}, "--tp 3");
  ExpectUsageError({"smollm2-135m", "--tp", "6"}, "--tp 6");
  ExpectUsageError({"smollm2-135m", "--tp", "9"}, "--tp 9");
  ExpectUsageError({"llama-2-70b", "--block-size", "0"}, "--block-size '0'");
  ExpectUsageError({"llama-2-70b", "--bogus", "1"}, "--bogus");
  ExpectUsageError({"llama-2-70b", "--layers", "3"}, "--layers");
  ExpectUsageError({"llama-70b"}, "llama-2-70b");  // unknown preset lists the presets
  ExpectUsageError({}, "missing MODEL");
  ExpectUsageError(
      {"custom", "--layers", "80", "--query-heads", "64", "--kv-heads", "8", "--ctx", "4096"},
      "--head-dim");
  ExpectUsageError({"custom", "--layers", "80", "--query-heads", "64", "--kv-heads", "6",
                    "--head-dim", "128", "--ctx", "4096"},
                   "--kv-heads 6");
  ExpectUsageError({"/nonexistent/model.gguf"}, "/nonexistent/model.gguf");
}

TEST(KvSizeCliTest, HelpAndDispatch) {
  Result result = RunGqa({"kv-size", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("usage: gqa kv-size MODEL"));
  EXPECT_THAT(result.out, HasSubstr("smollm2-135m"));
  result = RunGqa({"help", "kv-size"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("--kv-policy"));
  result = RunGqa({"help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("kv-size"));
  result = RunGqa({});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("usage: gqa <command>"));
  result = RunGqa({"nope"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command 'nope'"));
  EXPECT_THAT(result.err, Not(HasSubstr("Check failed")));
}

}  // namespace
