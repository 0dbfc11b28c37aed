#include "tools/gqa_loadgen/dataset.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

std::string Error(absl::string_view text) {
  absl::StatusOr<std::vector<DatasetEntry>> d = ParseDataset(text, "data.jsonl");
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(d.status().message());
}

TEST(DatasetTest, ReadsTextAndTokenPrompts) {
  absl::StatusOr<std::vector<DatasetEntry>> d = ParseDataset(
      "{\"prompt\": \"Hello there\", \"output_len\": 7}\n\n"
      "{\"prompt_token_ids\": [5, 6, 7]}\n",
      "data.jsonl");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].prompt_text, "Hello there");
  EXPECT_EQ((*d)[0].output_tokens, 7);
  EXPECT_EQ((*d)[0].line, 1);
  EXPECT_EQ((*d)[1].prompt_token_ids, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_FALSE((*d)[1].output_tokens.has_value());
  EXPECT_EQ((*d)[1].line, 3);
}

TEST(DatasetTest, ErrorsNameTheFileLineAndField) {
  EXPECT_THAT(Error("{\"prompt\": \"a\"}\n{\"prompt\": "),
              HasSubstr("data.jsonl:2: not valid JSON"));
  EXPECT_THAT(Error("[1, 2]"), HasSubstr("data.jsonl:1: expected a JSON object, got array"));
  EXPECT_THAT(Error("{\"output_len\": 3}"), HasSubstr("needs \"prompt\""));
  EXPECT_THAT(Error("{\"prompt\": \"a\", \"prompt_token_ids\": [1]}"), HasSubstr("both"));
  EXPECT_THAT(Error("{\"prompt\": \"\"}"), HasSubstr("\"prompt\" is empty"));
  EXPECT_THAT(Error("{\"prompt\": 5}"), HasSubstr("\"prompt\" must be a string, got integer"));
  EXPECT_THAT(Error("{\"prompt_token_ids\": [1, -2]}"),
              HasSubstr("prompt_token_ids[1] is -2; expected a token id"));
  EXPECT_THAT(Error("{\"prompt_token_ids\": [1, \"x\"]}"), HasSubstr("prompt_token_ids[1]"));
  EXPECT_THAT(Error("{\"prompt\": \"a\", \"output_len\": 0}"),
              HasSubstr("\"output_len\" is 0; expected a positive integer"));
  EXPECT_THAT(Error("{\"prompt\": \"a\", \"max_len\": 3}"),
              HasSubstr("unknown key \"max_len\"; allowed: prompt, prompt_token_ids, output_len"));
  EXPECT_THAT(Error("\n  \n"), HasSubstr("data.jsonl: no requests"));
  EXPECT_THAT(Error("{\"prompt\": \"a\", \"prompt\": \"b\"}"), HasSubstr("data.jsonl:1"));
}

TEST(DatasetTest, MissingFileIsNamed) {
  absl::StatusOr<std::vector<DatasetEntry>> d = ReadDataset("/nonexistent/data.jsonl");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr("--dataset /nonexistent/data.jsonl"));
}

}  // namespace
}  // namespace gqa::loadgen
