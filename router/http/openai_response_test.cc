#include "router/http/openai_response.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/tokenizer/tokenizer_test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

using Json = nlohmann::json;

OpenAiRequest Request(OpenAiEndpoint endpoint, bool stream, bool include_usage, bool logprobs) {
  OpenAiRequest request;
  request.endpoint = endpoint;
  request.stream = stream;
  request.include_usage = include_usage;
  request.generate.set_logprobs(logprobs);
  return request;
}

// The JSON of each "data:" event; "[DONE]" as a string.
std::vector<Json> Parse(const std::string& events) {
  std::vector<Json> out;
  for (absl::string_view event : absl::StrSplit(events, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::ConsumePrefix(&event, "data: ")) << event;
    out.push_back(event == "[DONE]" ? Json("[DONE]") : Json::parse(event));
  }
  return out;
}

class OpenAiResponseTest : public ::testing::Test {
 protected:
  void SetUp() override { tokenizer_ = MustCreate(ByteLevelTestSpec()); }

  v1::GenerateResponse Final(v1::FinishReason reason) {
    v1::GenerateResponse last;
    last.set_finish_reason(reason);
    last.mutable_usage()->set_num_prompt_tokens(5);
    last.mutable_usage()->set_num_generated_tokens(2);
    last.mutable_usage()->set_num_cached_tokens(4);
    return last;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(OpenAiResponseTest, WholeChatCompletion) {
  OpenAiResponder responder(Request(OpenAiEndpoint::kChatCompletions, false, false, true), "model",
                            1700000000, tokenizer_.get());
  v1::GenerateResponse reply = Final(v1::FINISH_REASON_EOS);
  reply.set_request_id("r-1");
  reply.set_text("hello");
  reply.add_token_ids(ByteLevelTestId("hello"));
  v1::TokenLogprob* logprob = reply.add_logprobs();
  logprob->set_logprob(-0.5f);
  v1::TopLogprob* top = logprob->add_top_logprobs();
  top->set_token_id(ByteLevelTestId("hello"));
  top->set_logprob(-0.5f);
  top->set_piece("hello");
  const Json body = Json::parse(responder.Whole(reply));
  EXPECT_EQ(body["id"], "chatcmpl-r-1");
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["created"], 1700000000);
  EXPECT_EQ(body["model"], "model");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  const Json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 1u);
  EXPECT_EQ(content[0]["token"], "hello");
  EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(content[0]["bytes"], Json::array({'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(content[0]["top_logprobs"][0]["token"], "hello");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["completion_tokens"], 2);
  EXPECT_EQ(body["usage"]["total_tokens"], 7);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST_F(OpenAiResponseTest, WholeCompletionWithLegacyLogprobs) {
  OpenAiRequest request = Request(OpenAiEndpoint::kCompletions, false, false, true);
  request.model = "asked-name";
  OpenAiResponder responder(request, "model", 1, tokenizer_.get());
  v1::GenerateResponse reply = Final(v1::FINISH_REASON_LENGTH);
  reply.set_request_id("r-2");
  reply.set_text("hello world");
  for (const char* piece : {"hello", "Ġworld"}) {
    reply.add_token_ids(ByteLevelTestId(piece));
    reply.add_logprobs()->set_logprob(-1.0f);
  }
  const Json body = Json::parse(responder.Whole(reply));
  EXPECT_EQ(body["id"], "cmpl-r-2");
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "asked-name");
  EXPECT_EQ(body["choices"][0]["text"], "hello world");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  const Json& logprobs = body["choices"][0]["logprobs"];
  EXPECT_EQ(logprobs["tokens"], Json::array({"hello", " world"}));
  EXPECT_EQ(logprobs["text_offset"], Json::array({0, 5}));
  EXPECT_EQ(logprobs["token_logprobs"].size(), 2u);
}

TEST_F(OpenAiResponseTest, ChatStreamEventsEndWithUsageAndDone) {
  OpenAiResponder responder(Request(OpenAiEndpoint::kChatCompletions, true, true, false), "model",
                            1, tokenizer_.get());
  v1::GenerateResponse first;
  first.set_request_id("r-3");
  first.set_text("hel");
  first.add_token_ids(7);
  std::vector<Json> events = Parse(responder.Events(first));
  ASSERT_EQ(events.size(), 2u);  // the role, then the text
  EXPECT_EQ(events[0]["id"], "chatcmpl-r-3");
  EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(events[0]["usage"].is_null());
  EXPECT_EQ(events[1]["choices"][0]["delta"]["content"], "hel");
  EXPECT_TRUE(events[1]["choices"][0]["finish_reason"].is_null());
  v1::GenerateResponse empty;
  EXPECT_EQ(responder.Events(empty), "");  // nothing to say
  v1::GenerateResponse last = Final(v1::FINISH_REASON_STOP_STRING);
  last.set_text("lo");
  events = Parse(responder.Events(last));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["choices"][0]["delta"]["content"], "lo");
  EXPECT_EQ(events[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(events[1]["choices"][0]["delta"].empty());
  EXPECT_TRUE(events[2]["choices"].empty());
  EXPECT_EQ(events[2]["usage"]["completion_tokens"], 2);
  EXPECT_EQ(events[3], "[DONE]");
}

TEST_F(OpenAiResponseTest, CompletionStreamWithoutUsage) {
  OpenAiResponder responder(Request(OpenAiEndpoint::kCompletions, true, false, false), "model", 1,
                            tokenizer_.get());
  v1::GenerateResponse first;
  first.set_request_id("r-4");
  first.set_text("x");
  std::vector<Json> events = Parse(responder.Events(first));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"], "text_completion");
  EXPECT_EQ(events[0]["choices"][0]["text"], "x");
  EXPECT_FALSE(events[0].contains("usage"));
  events = Parse(responder.Events(Final(v1::FINISH_REASON_LENGTH)));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["id"], "cmpl-r-4");
  EXPECT_EQ(events[0]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(events[1], "[DONE]");
}

TEST_F(OpenAiResponseTest, ErrorEventsCarryTheErrorThenDone) {
  std::vector<Json> events =
      Parse(OpenAiResponder::ErrorEvents(absl::UnavailableError("failover gave up")));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["error"]["message"], "failover gave up");
  EXPECT_EQ(events[0]["error"]["code"], "unavailable");
  EXPECT_EQ(events[1], "[DONE]");
}

}  // namespace
}  // namespace gqa
