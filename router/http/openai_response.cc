#include "router/http/openai_response.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "router/http/http_errors.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Event(const Json& json) { return absl::StrCat("data: ", Dump(json), "\n\n"); }

constexpr char kDone[] = "data: [DONE]\n\n";

Json Bytes(absl::string_view piece) {
  Json bytes = Json::array();
  for (char c : piece) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

std::string Piece(const Tokenizer* tokenizer, int32_t id) {
  absl::StatusOr<absl::string_view> piece = tokenizer->TokenPiece(id);
  return piece.ok() ? std::string(*piece) : std::string();
}

Json Usage(const v1::Usage& usage) {
  return {{"prompt_tokens", usage.num_prompt_tokens()},
          {"completion_tokens", usage.num_generated_tokens()},
          {"total_tokens", usage.num_prompt_tokens() + usage.num_generated_tokens()},
          {"prompt_tokens_details", {{"cached_tokens", usage.num_cached_tokens()}}}};
}

// Chat's logprobs: {"content": [{token, logprob, bytes, top_logprobs}]}.
Json ChatLogprobs(const v1::GenerateResponse& message, const Tokenizer* tokenizer) {
  Json content = Json::array();
  for (int i = 0; i < message.logprobs_size() && i < message.token_ids_size(); ++i) {
    const v1::TokenLogprob& entry = message.logprobs(i);
    const std::string piece = Piece(tokenizer, message.token_ids(i));
    Json top = Json::array();
    for (const v1::TopLogprob& alternative : entry.top_logprobs()) {
      top.push_back({{"token", alternative.piece()},
                     {"logprob", alternative.logprob()},
                     {"bytes", Bytes(alternative.piece())}});
    }
    content.push_back({{"token", piece},
                       {"logprob", entry.logprob()},
                       {"bytes", Bytes(piece)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

// The legacy completions logprobs: parallel arrays; text_offset counts the
// bytes of the pieces before each token, from `*offset` on.
Json CompletionLogprobs(const v1::GenerateResponse& message, const Tokenizer* tokenizer,
                        int64_t* offset) {
  Json tokens = Json::array(), logprobs = Json::array(), top = Json::array(),
       offsets = Json::array();
  for (int i = 0; i < message.logprobs_size() && i < message.token_ids_size(); ++i) {
    const std::string piece = Piece(tokenizer, message.token_ids(i));
    tokens.push_back(piece);
    logprobs.push_back(message.logprobs(i).logprob());
    Json alternatives = Json::object();
    for (const v1::TopLogprob& alternative : message.logprobs(i).top_logprobs()) {
      alternatives[alternative.piece()] = alternative.logprob();
    }
    top.push_back(std::move(alternatives));
    offsets.push_back(*offset);
    *offset += static_cast<int64_t>(piece.size());
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(logprobs)},
          {"top_logprobs", std::move(top)},
          {"text_offset", std::move(offsets)}};
}

}  // namespace

const char* OpenAiFinishReason(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
    case v1::FINISH_REASON_DEADLINE:
      return "length";
    default:
      return "stop";
  }
}

OpenAiResponder::OpenAiResponder(const OpenAiRequest& request, std::string model_name,
                                 int64_t created, const Tokenizer* tokenizer)
    : endpoint_(request.endpoint),
      model_(request.model.empty() ? std::move(model_name) : request.model),
      created_(created),
      include_usage_(request.include_usage),
      logprobs_(request.generate.logprobs()),
      tokenizer_(tokenizer) {}

std::string OpenAiResponder::Whole(const v1::GenerateResponse& response) {
  const bool chat = endpoint_ == OpenAiEndpoint::kChatCompletions;
  Json choice = {{"index", 0}, {"finish_reason", OpenAiFinishReason(response.finish_reason())}};
  choice["logprobs"] = nullptr;
  if (logprobs_) {
    choice["logprobs"] = chat ? ChatLogprobs(response, tokenizer_)
                              : CompletionLogprobs(response, tokenizer_, &text_offset_);
  }
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", response.text()}};
  } else {
    choice["text"] = response.text();
  }
  const Json body = {{"id", absl::StrCat(chat ? "chatcmpl-" : "cmpl-", response.request_id())},
                     {"object", chat ? "chat.completion" : "text_completion"},
                     {"created", created_},
                     {"model", model_},
                     {"choices", Json::array({std::move(choice)})},
                     {"usage", Usage(response.usage())}};
  return Dump(body);
}

std::string OpenAiResponder::Events(const v1::GenerateResponse& message) {
  const bool chat = endpoint_ == OpenAiEndpoint::kChatCompletions;
  if (id_.empty() && !message.request_id().empty()) {
    id_ = absl::StrCat(chat ? "chatcmpl-" : "cmpl-", message.request_id());
  }
  auto chunk = [&](Json choice) {
    Json body = {{"id", id_},
                 {"object", chat ? "chat.completion.chunk" : "text_completion"},
                 {"created", created_},
                 {"model", model_},
                 {"choices", Json::array({std::move(choice)})}};
    if (include_usage_) body["usage"] = nullptr;
    return Event(body);
  };
  std::string events;
  const bool has_content = !message.text().empty() || message.token_ids_size() > 0;
  if (chat && !sent_role_) {
    sent_role_ = true;
    events += chunk({{"index", 0},
                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                     {"logprobs", nullptr},
                     {"finish_reason", nullptr}});
  }
  if (has_content) {
    Json choice = {{"index", 0}, {"finish_reason", nullptr}, {"logprobs", nullptr}};
    if (logprobs_) {
      choice["logprobs"] = chat ? ChatLogprobs(message, tokenizer_)
                                : CompletionLogprobs(message, tokenizer_, &text_offset_);
    }
    if (chat) {
      choice["delta"] = {{"content", message.text()}};
    } else {
      choice["text"] = message.text();
    }
    events += chunk(std::move(choice));
  }
  if (message.finish_reason() == v1::FINISH_REASON_UNSPECIFIED) return events;
  Json last = {{"index", 0},
               {"logprobs", nullptr},
               {"finish_reason", OpenAiFinishReason(message.finish_reason())}};
  if (chat) {
    last["delta"] = Json::object();
  } else {
    last["text"] = "";
  }
  events += chunk(std::move(last));
  if (include_usage_) {
    events += Event({{"id", id_},
                     {"object", chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", created_},
                     {"model", model_},
                     {"choices", Json::array()},
                     {"usage", Usage(message.usage())}});
  }
  return events + kDone;
}

std::string OpenAiResponder::ErrorEvents(const absl::Status& status) {
  return absl::StrCat("data: ", ErrorJson(status), "\n\n", kDone);
}

}  // namespace gqa
