#include "router/http/openai_request.h"

#include <limits>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/kv_options.h"
#include "nlohmann/json.hpp"
#include "proto/convert/kv_convert.h"
#include "router/http/http_errors.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

// OpenAI fields gqaserve does not implement: accepted only as null.
constexpr const char* kUnsupported[] = {
    "logit_bias", "tools",    "tool_choice",  "functions", "function_call",   "response_format",
    "parallel_tool_calls",    "suffix",       "service_tier", "store",        "metadata",
    "modalities", "audio",    "prediction",   "reasoning_effort", "web_search_options"};

// Refuses nesting past kMaxJsonDepth before the parser (recursive in
// places) sees the body.
absl::Status CheckDepth(absl::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("the JSON body nests deeper than ", kMaxJsonDepth, " levels"));
      }
    }
    if (c == ']' || c == '}') --depth;
  }
  return absl::OkStatus();
}

// Reads typed fields of one JSON object, remembering the first error and
// which fields were read, so that anything left over is refused as unknown.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  // The field, or nullptr when absent or null (OpenAI treats both alike).
  const Json* Raw(const std::string& name) {
    seen_.insert(name);
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::optional<bool> Bool(const std::string& name) {
    const Json* value = Raw(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) return WrongType<bool>(name, "a boolean");
    return value->get<bool>();
  }
  std::optional<double> Number(const std::string& name) {
    const Json* value = Raw(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) return WrongType<double>(name, "a number");
    return value->get<double>();
  }
  std::optional<int64_t> Integer(const std::string& name, int64_t low, int64_t high) {
    const Json* value = Raw(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer()) return WrongType<int64_t>(name, "an integer");
    if (value->is_number_unsigned() &&
        value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return OutOfRange<int64_t>(name, low, high);
    }
    const int64_t parsed = value->get<int64_t>();
    if (parsed < low || parsed > high) return OutOfRange<int64_t>(name, low, high);
    return parsed;
  }
  std::optional<uint64_t> Unsigned(const std::string& name) {
    const Json* value = Raw(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer()) return WrongType<uint64_t>(name, "an integer");
    if (!value->is_number_unsigned()) {
      Fail(InvalidField(Path(name), absl::StrCat(Path(name), " must be in [0, 2^64-1]")));
      return std::nullopt;
    }
    return value->get<uint64_t>();
  }
  std::optional<std::string> String(const std::string& name) {
    const Json* value = Raw(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return WrongType<std::string>(name, "a string");
    return value->get<std::string>();
  }

  void Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }
  std::string Path(const std::string& name) const { return prefix_ + name; }

  // The first error, else INVALID_ARGUMENT for the first field never read.
  absl::Status Finish() {
    if (!status_.ok()) return status_;
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (!seen_.contains(it.key())) {
        return InvalidField(Path(it.key()), absl::StrCat("unrecognized request argument supplied: ",
                                                         Path(it.key())));
      }
    }
    return absl::OkStatus();
  }

 private:
  template <typename T>
  std::optional<T> WrongType(const std::string& name, const char* expected) {
    Fail(InvalidField(Path(name), absl::StrCat(Path(name), " must be ", expected)));
    return std::nullopt;
  }
  template <typename T>
  std::optional<T> OutOfRange(const std::string& name, int64_t low, int64_t high) {
    Fail(InvalidField(Path(name), absl::StrCat(Path(name), " must be in [", low, ", ", high, "]")));
    return std::nullopt;
  }

  const Json& object_;
  const std::string prefix_;
  std::set<std::string> seen_;
  absl::Status status_;
};

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Text of one message's content: a string or an array of text parts.
std::optional<std::string> MessageContent(FieldReader& fields) {
  const Json* content = fields.Raw("content");
  if (content == nullptr) return std::string();
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) {
    fields.Fail(InvalidField(fields.Path("content"),
                             fields.Path("content") + " must be a string or an array of parts"));
    return std::nullopt;
  }
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const Json& part = (*content)[i];
    const std::string where = absl::StrCat(fields.Path("content"), "[", i, "]");
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
        !part.contains("text") || !part["text"].is_string() || part.size() != 2) {
      fields.Fail(InvalidField(where, where + " must be {\"type\": \"text\", \"text\": \"...\"}; "
                                              "only text parts are supported"));
      return std::nullopt;
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

void ReadMessages(FieldReader& fields, v1::GenerateRequest* out) {
  const Json* messages = fields.Raw("messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    fields.Fail(InvalidField("messages", "messages must be a non-empty array of messages"));
    return;
  }
  v1::ChatMessages* chat = out->mutable_chat();
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string where = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) {
      fields.Fail(InvalidField(where, where + " must be an object"));
      return;
    }
    FieldReader reader(message, where + ".");
    const std::optional<std::string> role = reader.String("role");
    const std::optional<std::string> content = MessageContent(reader);
    reader.String("name");  // accepted; the chat template has no use for it
    v1::ChatMessage* added = chat->add_messages();
    if (role == "system" || role == "developer") {
      added->set_role(v1::ChatMessage::ROLE_SYSTEM);
    } else if (role == "user") {
      added->set_role(v1::ChatMessage::ROLE_USER);
    } else if (role == "assistant") {
      added->set_role(v1::ChatMessage::ROLE_ASSISTANT);
    } else if (role.has_value()) {
      reader.Fail(InvalidField(where + ".role", absl::StrCat(where, ".role '", *role,
                                                             "': expected system, developer, "
                                                             "user or assistant")));
    } else {
      reader.Fail(InvalidField(where + ".role", where + ".role is required"));
    }
    if (content.has_value()) added->set_content(*content);
    if (absl::Status status = reader.Finish(); !status.ok()) return fields.Fail(status);
  }
}

// prompt: a string, an array of token ids, or an array holding one of these.
void ReadPrompt(FieldReader& fields, v1::GenerateRequest* out) {
  const Json* prompt = fields.Raw("prompt");
  if (prompt == nullptr) {
    return fields.Fail(InvalidField("prompt", "prompt is required"));
  }
  if (prompt->is_array() && prompt->size() == 1 && !(*prompt)[0].is_number()) {
    prompt = &(*prompt)[0];
  }
  if (prompt->is_string()) {
    out->set_text(prompt->get<std::string>());
    return;
  }
  if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    for (const Json& id : *prompt) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kInt32Max) {
        return fields.Fail(InvalidField("prompt", "prompt token ids must be integers in [0, 2^31)"));
      }
      out->mutable_token_ids()->add_token_ids(id.get<int32_t>());
    }
    return;
  }
  if (prompt->is_array() && prompt->size() > 1) {
    return fields.Fail(InvalidField(
        "prompt", "batched prompts are not supported; send one prompt per request"));
  }
  fields.Fail(InvalidField("prompt", "prompt must be a string, an array of token ids, or an array "
                                     "holding one of these"));
}

void ReadStop(FieldReader& fields, v1::GenerateRequest* out) {
  const Json* stop = fields.Raw("stop");
  if (stop == nullptr) return;
  if (stop->is_string()) {
    out->add_stop_strings(stop->get<std::string>());
    return;
  }
  if (stop->is_array()) {
    for (const Json& each : *stop) {
      if (!each.is_string()) break;
      out->add_stop_strings(each.get<std::string>());
    }
    if (out->stop_strings_size() == static_cast<int>(stop->size())) return;
  }
  fields.Fail(InvalidField("stop", "stop must be a string or an array of strings"));
}

void ReadSampling(FieldReader& fields, v1::GenerateRequest* out) {
  v1::SamplingParams* sampling = out->mutable_sampling();
  if (auto v = fields.Number("temperature")) sampling->set_temperature(static_cast<float>(*v));
  if (auto v = fields.Number("top_p")) sampling->set_top_p(static_cast<float>(*v));
  if (auto v = fields.Integer("top_k", 0, kInt32Max)) sampling->set_top_k(static_cast<int32_t>(*v));
  if (auto v = fields.Number("min_p")) sampling->set_min_p(static_cast<float>(*v));
  if (auto v = fields.Number("repetition_penalty")) {
    sampling->set_repetition_penalty(static_cast<float>(*v));
  }
  if (auto v = fields.Number("presence_penalty")) {
    sampling->set_presence_penalty(static_cast<float>(*v));
  }
  if (auto v = fields.Number("frequency_penalty")) {
    sampling->set_frequency_penalty(static_cast<float>(*v));
  }
  if (auto v = fields.Unsigned("seed")) sampling->set_seed(*v);
}

void ReadKvOptions(FieldReader& fields, v1::GenerateRequest* out) {
  if (auto text = fields.String("kv_policy")) {
    absl::StatusOr<KvPolicy> policy = ParseKvPolicy(*text);
    if (!policy.ok()) return fields.Fail(InvalidField("kv_policy", policy.status().message()));
    *out->mutable_kv_policy() = KvPolicyToProto(*policy);
  }
  if (auto text = fields.String("kv_dtype")) {
    absl::StatusOr<DType> dtype = ParseKvDType(*text);
    if (!dtype.ok()) return fields.Fail(InvalidField("kv_dtype", dtype.status().message()));
    out->set_kv_dtype(DTypeToProto(*dtype));
  }
}

void ReadLogprobs(FieldReader& fields, OpenAiEndpoint endpoint, v1::GenerateRequest* out) {
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    const bool logprobs = fields.Bool("logprobs").value_or(false);
    const int64_t top = fields.Integer("top_logprobs", 0, 20).value_or(0);
    if (top > 0 && !logprobs) {
      fields.Fail(InvalidField("top_logprobs", "top_logprobs requires logprobs: true"));
    }
    out->set_logprobs(logprobs);
    out->set_top_logprobs(static_cast<int32_t>(top));
    return;
  }
  // Completions: logprobs is the number of alternatives per position.
  if (auto top = fields.Integer("logprobs", 0, 20)) {
    out->set_logprobs(true);
    out->set_top_logprobs(static_cast<int32_t>(*top));
  }
}

void ReadCounts(FieldReader& fields, OpenAiEndpoint endpoint, v1::GenerateRequest* out) {
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  for (const char* name : {"n", "best_of"}) {
    if (endpoint == OpenAiEndpoint::kChatCompletions && std::string(name) == "best_of") continue;
    if (auto v = fields.Integer(name, 1, kMax); v.has_value() && *v != 1) {
      fields.Fail(InvalidField(name, absl::StrCat(name, "=", *v, ": gqaserve returns one choice "
                                                             "per request; set ", name, " to 1")));
    }
  }
  std::optional<int64_t> max_tokens = fields.Integer("max_tokens", 1, kMax);
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    std::optional<int64_t> completion = fields.Integer("max_completion_tokens", 1, kMax);
    if (max_tokens && completion && *max_tokens != *completion) {
      fields.Fail(InvalidField("max_completion_tokens",
                               "max_tokens and max_completion_tokens differ; set one"));
    }
    if (!max_tokens) max_tokens = completion;
  }
  if (max_tokens) out->set_max_tokens(*max_tokens);
}

}  // namespace

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body) {
  if (absl::Status depth = CheckDepth(body); !depth.ok()) return depth;
  Json json;
  try {
    json = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("the body is not valid JSON: ", e.what()));
  }
  if (!json.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  OpenAiRequest request;
  request.endpoint = endpoint;
  v1::GenerateRequest* out = &request.generate;
  FieldReader fields(json, "");
  request.model = fields.String("model").value_or("");
  out->set_model(request.model);
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    ReadMessages(fields, out);
  } else {
    ReadPrompt(fields, out);
    out->set_echo(fields.Bool("echo").value_or(false));
  }
  ReadCounts(fields, endpoint, out);
  ReadSampling(fields, out);
  ReadStop(fields, out);
  ReadLogprobs(fields, endpoint, out);
  ReadKvOptions(fields, out);
  out->set_ignore_eos(fields.Bool("ignore_eos").value_or(false));
  if (auto v = fields.Integer("priority", -100, 100)) out->set_priority(static_cast<int32_t>(*v));
  fields.String("user");  // accepted for compatibility; the API key names the tenant
  request.stream = fields.Bool("stream").value_or(false);
  if (const Json* options = fields.Raw("stream_options")) {
    if (!options->is_object()) {
      fields.Fail(InvalidField("stream_options", "stream_options must be an object"));
    } else {
      FieldReader reader(*options, "stream_options.");
      request.include_usage = reader.Bool("include_usage").value_or(false);
      fields.Fail(reader.Finish());
      if (!request.stream) {
        fields.Fail(InvalidField("stream_options",
                                 "stream_options is only allowed when stream is true"));
      }
    }
  }
  for (const char* name : kUnsupported) {
    if (fields.Raw(name) != nullptr) {
      fields.Fail(InvalidField(name, absl::StrCat(name, " is not supported by gqaserve")));
    }
  }
  if (absl::Status status = fields.Finish(); !status.ok()) return status;
  return request;
}

}  // namespace gqa
