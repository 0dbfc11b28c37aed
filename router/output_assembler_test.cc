#include "router/output_assembler.h"

#include "core/tokenizer/tokenizer_test_util.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

class OutputAssemblerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = MustCreate(ByteLevelTestSpec());
    request_.request_id = "req-1";
    request_.prompt_ids = {1, 2, 3};
    request_.seed = 42;
  }

  v1::SubmitResponse Tokens(const std::string& text) {
    v1::SubmitResponse message;
    for (int32_t id : tokenizer_->Encode(text, {.add_special = false})) message.add_token_ids(id);
    return message;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  PreparedRequest request_;
};

TEST_F(OutputAssemblerTest, StreamsTextAndEndsWithUsageAndSeed) {
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::GenerateResponse first, last;
  ASSERT_FALSE(*assembler->Add(Tokens("hello world"), &first));
  assembler->Start(&first);
  EXPECT_EQ(first.request_id(), "req-1");
  EXPECT_EQ(first.text(), "hello world");
  v1::Usage usage;
  usage.set_num_cached_tokens(2);
  usage.set_peak_kv_bytes(100);
  assembler->AddAttemptUsage(usage);
  assembler->Finish(v1::FINISH_REASON_LENGTH, &last);
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.usage().num_prompt_tokens(), 3);
  EXPECT_EQ(last.usage().num_cached_tokens(), 2);
  EXPECT_EQ(last.usage().num_generated_tokens(), first.token_ids_size());
  EXPECT_EQ(last.seed(), 42u);
}

TEST_F(OutputAssemblerTest, AStopStringEndsTheTextBeforeItAndDropsLaterTokens) {
  request_.stop_strings = {"wor"};
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::GenerateResponse out, last;
  EXPECT_TRUE(*assembler->Add(Tokens("hello world hello"), &out));
  assembler->Finish(v1::FINISH_REASON_CANCELLED, &last);
  EXPECT_EQ(out.text() + last.text(), "hello ");
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP_STRING);
  EXPECT_EQ(last.matched_stop_string(), "wor");
  EXPECT_LT(out.token_ids_size(), static_cast<int>(tokenizer_->Encode("hello world hello").size()));
  EXPECT_EQ(assembler->output_ids().size(), static_cast<size_t>(out.token_ids_size()));
}

TEST_F(OutputAssemblerTest, TextThatMayStartAStopStringIsHeldBackUntilDecided) {
  request_.stop_strings = {"hello there"};
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::GenerateResponse out, last;
  EXPECT_FALSE(*assembler->Add(Tokens("hello"), &out));
  EXPECT_EQ(out.text(), "");
  assembler->Finish(v1::FINISH_REASON_LENGTH, &last);
  EXPECT_EQ(last.text(), "hello");
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
}

TEST_F(OutputAssemblerTest, EchoPutsThePromptFirst) {
  request_.echo_text = "PROMPT ";
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::GenerateResponse out;
  ASSERT_FALSE(*assembler->Add(Tokens("hello"), &out));
  assembler->Start(&out);
  EXPECT_EQ(out.text(), "PROMPT hello");
  EXPECT_EQ(out.prompt_token_ids_size(), 3);
}

TEST_F(OutputAssemblerTest, AnUndecodableTokenIsAnInternalError) {
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::SubmitResponse bad;
  bad.add_token_ids(1 << 30);
  v1::GenerateResponse out;
  EXPECT_EQ(assembler->Add(bad, &out).status().code(), absl::StatusCode::kInternal);
}

TEST_F(OutputAssemblerTest, TopLogprobsGetTheirPieces) {
  absl::StatusOr<OutputAssembler> assembler = OutputAssembler::Create(tokenizer_.get(), request_);
  ASSERT_TRUE(assembler.ok());
  v1::SubmitResponse message = Tokens("hello");
  v1::TopLogprob* top = message.add_logprobs()->add_top_logprobs();
  top->set_token_id(ByteLevelTestId("Ġworld"));
  top->set_logprob(-0.25f);
  v1::GenerateResponse out;
  ASSERT_TRUE(assembler->Add(message, &out).ok());
  ASSERT_EQ(out.logprobs_size(), 1);
  EXPECT_EQ(out.logprobs(0).top_logprobs(0).piece(), " world");
  EXPECT_FLOAT_EQ(out.logprobs(0).top_logprobs(0).logprob(), -0.25f);
}

}  // namespace
}  // namespace gqa
