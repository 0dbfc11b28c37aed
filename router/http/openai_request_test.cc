#include "router/http/openai_request.h"

#include <string>

#include "absl/strings/cord.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

constexpr OpenAiEndpoint kChat = OpenAiEndpoint::kChatCompletions;
constexpr OpenAiEndpoint kCompletions = OpenAiEndpoint::kCompletions;

// The refusal's "param" payload (the field at fault), "" when none.
std::string Param(const absl::Status& status) {
  auto param = status.GetPayload("gqa.openai.param");
  return param ? std::string(*param) : "";
}

TEST(OpenAiRequestTest, ChatFieldsBecomeTheGenerateRequest) {
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(kChat, R"({
    "model": "m", "messages": [{"role": "system", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "hi "},
                                                            {"type": "text", "text": "there"}]},
                               {"role": "assistant", "content": "ok", "name": "bot"},
                               {"role": "developer", "content": "d"}],
    "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.1,
    "seed": 18446744073709551615, "stop": ["a", "b"], "n": 1, "presence_penalty": 0.25,
    "frequency_penalty": -0.5, "logprobs": true, "top_logprobs": 3, "stream": true,
    "stream_options": {"include_usage": true}, "user": "u1", "kv_policy": "streaming:4+64",
    "kv_dtype": "fp8-e4m3", "ignore_eos": true, "priority": -3, "repetition_penalty": 1.1,
    "tools": null})");
  ASSERT_TRUE(request.ok()) << request.status();
  const v1::GenerateRequest& g = request->generate;
  EXPECT_EQ(request->model, "m");
  EXPECT_TRUE(request->stream);
  EXPECT_TRUE(request->include_usage);
  ASSERT_EQ(g.chat().messages_size(), 4);
  EXPECT_EQ(g.chat().messages(0).role(), v1::ChatMessage::ROLE_SYSTEM);
  EXPECT_EQ(g.chat().messages(1).role(), v1::ChatMessage::ROLE_USER);
  EXPECT_EQ(g.chat().messages(1).content(), "hi there");
  EXPECT_EQ(g.chat().messages(2).role(), v1::ChatMessage::ROLE_ASSISTANT);
  EXPECT_EQ(g.chat().messages(3).role(), v1::ChatMessage::ROLE_SYSTEM);
  EXPECT_EQ(g.max_tokens(), 7);
  EXPECT_FLOAT_EQ(g.sampling().temperature(), 0.5f);
  EXPECT_FLOAT_EQ(g.sampling().top_p(), 0.9f);
  EXPECT_EQ(g.sampling().top_k(), 40);
  EXPECT_FLOAT_EQ(g.sampling().min_p(), 0.1f);
  EXPECT_FLOAT_EQ(g.sampling().repetition_penalty(), 1.1f);
  EXPECT_EQ(g.sampling().seed(), 18446744073709551615ull);
  EXPECT_FLOAT_EQ(g.sampling().presence_penalty(), 0.25f);
  EXPECT_FLOAT_EQ(g.sampling().frequency_penalty(), -0.5f);
  ASSERT_EQ(g.stop_strings_size(), 2);
  EXPECT_EQ(g.stop_strings(1), "b");
  EXPECT_TRUE(g.logprobs());
  EXPECT_EQ(g.top_logprobs(), 3);
  EXPECT_EQ(g.kv_policy().streaming().sink_tokens(), 4);
  EXPECT_EQ(g.kv_policy().streaming().window_tokens(), 64);
  EXPECT_EQ(g.kv_dtype(), v1::KV_DTYPE_FP8_E4M3);
  EXPECT_TRUE(g.ignore_eos());
  EXPECT_EQ(g.priority(), -3);
}

TEST(OpenAiRequestTest, UnsetFieldsStayUnset) {
  absl::StatusOr<OpenAiRequest> request =
      ParseOpenAiRequest(kChat, R"({"messages": [{"role": "user", "content": "x"}],
                                    "temperature": null, "max_tokens": null})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->generate.sampling().has_temperature());
  EXPECT_FALSE(request->generate.sampling().has_seed());
  EXPECT_FALSE(request->generate.has_max_tokens());
  EXPECT_FALSE(request->generate.logprobs());
  EXPECT_FALSE(request->stream);
  EXPECT_EQ(request->model, "");
}

TEST(OpenAiRequestTest, CompletionPromptForms) {
  absl::StatusOr<OpenAiRequest> text =
      ParseOpenAiRequest(kCompletions, R"({"prompt": "Once", "echo": true, "logprobs": 2,
                                           "best_of": 1, "max_completion_tokens": null})");
  // max_completion_tokens belongs to chat only.
  EXPECT_EQ(Param(text.status()), "max_completion_tokens");
  text = ParseOpenAiRequest(kCompletions, R"({"prompt": "Once", "echo": true, "logprobs": 2})");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->generate.text(), "Once");
  EXPECT_TRUE(text->generate.echo());
  EXPECT_TRUE(text->generate.logprobs());
  EXPECT_EQ(text->generate.top_logprobs(), 2);
  absl::StatusOr<OpenAiRequest> one = ParseOpenAiRequest(kCompletions, R"({"prompt": ["Twice"]})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->generate.text(), "Twice");
  absl::StatusOr<OpenAiRequest> ids = ParseOpenAiRequest(kCompletions, R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->generate.token_ids().token_ids_size(), 3);
  absl::StatusOr<OpenAiRequest> nested = ParseOpenAiRequest(kCompletions, R"({"prompt": [[5, 6]]})");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->generate.token_ids().token_ids(1), 6);
}

struct Refusal {
  OpenAiEndpoint endpoint;
  const char* body;
  const char* param;     // "" : none
  const char* message;   // a substring of the message
};

class OpenAiRequestRefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(OpenAiRequestRefusalTest, IsInvalidArgumentNamingTheField) {
  const Refusal& refusal = GetParam();
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(refusal.endpoint, refusal.body);
  ASSERT_FALSE(request.ok()) << refusal.body;
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Param(request.status()), refusal.param) << request.status();
  EXPECT_NE(request.status().message().find(refusal.message), std::string::npos)
      << request.status();
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, OpenAiRequestRefusalTest,
    ::testing::Values(
        Refusal{kChat, "{\"messages\": [", "", "not valid JSON"},
        Refusal{kChat, "", "", "not valid JSON"},
        Refusal{kChat, "[1]", "", "must be a JSON object"},
        Refusal{kChat, "{\"messages\": \"hi\"}", "messages", "non-empty array"},
        Refusal{kChat, "{\"messages\": []}", "messages", "non-empty array"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}",
                "messages[0].role", "expected system"},
        Refusal{kChat, "{\"messages\": [{\"content\": \"x\"}]}", "messages[0].role", "required"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}",
                "messages[0].content", "string or an array"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
                "messages[0].content[0]", "only text parts"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": []}]}",
                "messages[0].tool_calls", "unrecognized request argument"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"bogus\": 1}",
                "bogus", "unrecognized request argument supplied: bogus"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": 2}", "n",
                "one choice"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": \"9\"}",
                "max_tokens", "must be an integer"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 1.5}",
                "max_tokens", "must be an integer"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 0}",
                "max_tokens", "must be in [1,"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": true}",
                "temperature", "must be a number"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"seed\": -1}",
                "seed", "[0, 2^64-1]"},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stop\": [1]}",
                "stop", "array of strings"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}",
                "top_logprobs", "requires logprobs"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": true, "
                "\"top_logprobs\": 21}",
                "top_logprobs", "[0, 20]"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stream_options\": "
                "{\"include_usage\": true}}",
                "stream_options", "only allowed when stream is true"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stream\": true, "
                "\"stream_options\": {\"x\": 1}}",
                "stream_options.x", "unrecognized"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": []}",
                "tools", "not supported"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logit_bias\": "
                "{\"1\": 5}}",
                "logit_bias", "not supported"},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"kv_policy\": "
                "\"sometimes\"}",
                "kv_policy", ""},
        Refusal{kChat,
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"kv_dtype\": \"f8\"}",
                "kv_dtype", ""},
        Refusal{kChat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"prompt\": \"p\"}",
                "prompt", "unrecognized"},
        Refusal{kCompletions, "{}", "prompt", "required"},
        Refusal{kCompletions, "{\"prompt\": [\"a\", \"b\"]}", "prompt", "batched prompts"},
        Refusal{kCompletions, "{\"prompt\": 5}", "prompt", "must be a string"},
        Refusal{kCompletions, "{\"prompt\": [1, -2]}", "prompt", "token ids"},
        Refusal{kCompletions, "{\"prompt\": \"p\", \"best_of\": 3}", "best_of", "one choice"},
        Refusal{kCompletions, "{\"prompt\": \"p\", \"logprobs\": true}", "logprobs",
                "an integer"},
        Refusal{kCompletions, "{\"prompt\": \"p\", \"suffix\": \"s\"}", "suffix",
                "not supported"},
        Refusal{kCompletions, "{\"prompt\": \"p\", \"messages\": []}", "messages",
                "unrecognized"}));

TEST(OpenAiRequestTest, RefusesDeepNestingBeforeParsing) {
  const std::string deep = "{\"prompt\": " + std::string(10000, '[') + std::string(10000, ']') + "}";
  absl::StatusOr<OpenAiRequest> request = ParseOpenAiRequest(kCompletions, deep);
  ASSERT_FALSE(request.ok());
  EXPECT_NE(request.status().message().find("nests deeper"), std::string::npos);
  // Brackets inside strings do not count.
  const std::string text = "{\"prompt\": \"" + std::string(100, '[') + "\"}";
  EXPECT_TRUE(ParseOpenAiRequest(kCompletions, text).ok());
}

}  // namespace
}  // namespace gqa
