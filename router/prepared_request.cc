#include "router/prepared_request.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/tokenizer/stop_strings.h"
#include "core/tokenizer/utf8.h"
#include "proto/convert/kv_convert.h"

namespace gqa {
namespace {

constexpr int kMaxStopStrings = 16;
constexpr size_t kMaxStopStringBytes = 128;
constexpr int kMaxStopTokenIds = 64;
constexpr int kMaxTopLogprobs = 20;

bool ValidRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidUtf8(absl::string_view text) { return SanitizeUtf8(text) == text; }

absl::Status CheckIds(absl::string_view field, absl::Span<const int32_t> ids, int64_t vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] = ", ids[i],
                                                     " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RoleName(v1::ChatMessage::Role role, int index) {
  switch (role) {
    case v1::ChatMessage::ROLE_SYSTEM: return std::string("system");
    case v1::ChatMessage::ROLE_USER: return std::string("user");
    case v1::ChatMessage::ROLE_ASSISTANT: return std::string("assistant");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("chat.messages[", index, "].role is unset"));
  }
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> PromptTokens(const ModelFile& model,
                                                  const v1::ChatMessages* chat,
                                                  const std::string* text) {
  if (text != nullptr) {
    if (text->empty()) return absl::InvalidArgumentError("the prompt text is empty");
    if (!ValidUtf8(*text)) return absl::InvalidArgumentError("the prompt text is not valid UTF-8");
    return model.tokenizer->Encode(*text, EncodeOptions{.add_special = true, .parse_special = false});
  }
  if (chat == nullptr) return absl::InvalidArgumentError("no prompt: set text, token_ids or chat");
  if (chat->messages().empty()) return absl::InvalidArgumentError("chat has no messages");
  if (!model.chat_template.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", model.name, " has no usable chat template (", model.chat_template.status().message(),
        "); send text or token_ids"));
  }
  std::vector<ChatMessage> messages;
  for (int i = 0; i < chat->messages_size(); ++i) {
    const v1::ChatMessage& message = chat->messages(i);
    ASSIGN_OR_RETURN(std::string role, RoleName(message.role(), i));
    if (!ValidUtf8(message.content())) {
      return absl::InvalidArgumentError(
          absl::StrCat("chat.messages[", i, "].content is not valid UTF-8"));
    }
    messages.push_back(ChatMessage{std::move(role), message.content()});
  }
  ASSIGN_OR_RETURN(std::string rendered,
                   model.chat_template->Render(messages, /*add_generation_prompt=*/true));
  return model.tokenizer->Encode(rendered, model.chat_template->prompt_encode_options());
}

absl::StatusOr<PreparedRequest> PrepareRequest(const v1::GenerateRequest& request,
                                               const ModelFile& model, const ApiKeyGrant& grant,
                                               uint64_t fresh_seed, const std::string& fresh_id) {
  PreparedRequest prepared;
  if (!request.model().empty() && request.model() != model.name) {
    return absl::NotFoundError(absl::StrCat("no model named '", request.model(),
                                            "'; this router serves '", model.name, "'"));
  }
  if (!grant.MayUse(model.name)) {
    return absl::PermissionDeniedError(
        absl::StrCat("this API key may not use model '", model.name, "'"));
  }
  if (request.request_id().empty()) {
    prepared.request_id = fresh_id;
  } else if (!ValidRequestId(request.request_id())) {
    return absl::InvalidArgumentError(
        "request_id must be 1..128 characters of [A-Za-z0-9._:-]");
  } else {
    prepared.request_id = request.request_id();
  }
  prepared.tenant = grant.tenant;
  const Tokenizer& tokenizer = *model.tokenizer;
  const int64_t vocab = tokenizer.vocab_size();
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      ASSIGN_OR_RETURN(prepared.prompt_ids, PromptTokens(model, nullptr, &request.text()));
      break;
    }
    case v1::GenerateRequest::kTokenIds:
      prepared.prompt_ids.assign(request.token_ids().token_ids().begin(),
                                 request.token_ids().token_ids().end());
      if (prepared.prompt_ids.empty()) {
        return absl::InvalidArgumentError("token_ids is empty");
      }
      RETURN_IF_ERROR(CheckIds("token_ids", prepared.prompt_ids, vocab));
      break;
    case v1::GenerateRequest::kChat: {
      ASSIGN_OR_RETURN(prepared.prompt_ids, PromptTokens(model, &request.chat(), nullptr));
      break;
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      return absl::InvalidArgumentError("no prompt: set text, token_ids or chat");
  }
  if (prepared.prompt_ids.empty()) return absl::InvalidArgumentError("the prompt has no tokens");

  if (request.stop_strings_size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxStopStrings, " stop_strings"));
  }
  for (int i = 0; i < request.stop_strings_size(); ++i) {
    const std::string& stop = request.stop_strings(i);
    if (stop.empty() || stop.size() > kMaxStopStringBytes || !ValidUtf8(stop)) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop_strings[", i, "] must be 1..128 bytes of UTF-8"));
    }
    prepared.stop_strings.push_back(stop);
  }
  if (request.stop_token_ids_size() > kMaxStopTokenIds) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxStopTokenIds, " stop_token_ids"));
  }
  RETURN_IF_ERROR(CheckIds("stop_token_ids", request.stop_token_ids(), vocab));
  if (request.top_logprobs() < 0 || request.top_logprobs() > kMaxTopLogprobs) {
    return absl::InvalidArgumentError("top_logprobs must be in [0, 20]");
  }
  if (request.top_logprobs() > 0 && !request.logprobs()) {
    return absl::InvalidArgumentError("top_logprobs needs logprobs");
  }
  if (request.priority() < -100 || request.priority() > 100) {
    return absl::InvalidArgumentError("priority must be in [-100, 100]");
  }
  if (request.priority() > grant.max_priority) {
    return absl::PermissionDeniedError(absl::StrCat("priority ", request.priority(),
                                                    " is above this API key's ceiling of ",
                                                    grant.max_priority));
  }
  ASSIGN_OR_RETURN(prepared.kv_policy, KvPolicyFromProto(request.kv_policy()));
  prepared.kv_policy_set = request.has_kv_policy();
  if (request.kv_dtype() != v1::KV_DTYPE_UNSPECIFIED) {
    prepared.kv_dtype = DTypeFromProto(request.kv_dtype());
    if (!prepared.kv_dtype.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("kv_dtype ", request.kv_dtype(), " is unknown"));
    }
  }

  const int64_t prompt_len = static_cast<int64_t>(prepared.prompt_ids.size());
  const int64_t context = model.config().context_tokens;
  const bool bounded = prepared.kv_policy.TokenBound().has_value();
  int64_t max_tokens = 0;
  if (request.has_max_tokens()) {
    if (request.max_tokens() < 1) return absl::InvalidArgumentError("max_tokens must be >= 1");
    max_tokens = request.max_tokens();
  } else if (bounded) {
    return absl::InvalidArgumentError(
        "max_tokens is required under a bounded kv_policy (streaming, h2o, window)");
  } else {
    max_tokens = context - prompt_len;
  }
  if (!bounded && prompt_len + max_tokens > context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the prompt (", prompt_len, " tokens) plus max_tokens (", max_tokens,
        ") exceeds the model's trained context of ", context,
        " tokens; shorten them, or use a bounded kv_policy"));
  }

  prepared.seed = request.sampling().has_seed() ? request.sampling().seed() : fresh_seed;
  prepared.logprobs = request.logprobs();
  if (request.echo()) {
    ASSIGN_OR_RETURN(std::string text,
                     tokenizer.Decode(prepared.prompt_ids, DecodeOptions{.skip_special = false}));
    prepared.echo_text = SanitizeUtf8(text);
  }

  v1::SubmitRequest& submit = prepared.submit;
  submit.set_request_id(prepared.request_id);
  submit.set_tenant(prepared.tenant);
  submit.mutable_prompt_token_ids()->Add(prepared.prompt_ids.begin(), prepared.prompt_ids.end());
  *submit.mutable_sampling() = request.sampling();
  submit.mutable_sampling()->set_seed(prepared.seed);
  submit.mutable_stop_token_ids()->Add(request.stop_token_ids().begin(),
                                       request.stop_token_ids().end());
  // The chat's end-of-turn token ends a reply like the end-of-sequence one.
  if (!request.ignore_eos() && model.chat_template.ok()) {
    if (auto ids = model.chat_template->StopTokenIds(tokenizer); ids.ok()) {
      for (int32_t id : *ids) {
        if (submit.stop_token_ids_size() < kMaxStopTokenIds &&
            std::find(submit.stop_token_ids().begin(), submit.stop_token_ids().end(), id) ==
                submit.stop_token_ids().end()) {
          submit.add_stop_token_ids(id);
        }
      }
    }
  }
  submit.set_ignore_eos(request.ignore_eos());
  submit.set_max_new_tokens(max_tokens);
  submit.set_logprobs(request.logprobs());
  submit.set_top_logprobs(request.top_logprobs());
  if (prepared.kv_policy_set) *submit.mutable_kv_policy() = request.kv_policy();
  submit.set_kv_dtype(request.kv_dtype());
  submit.set_priority(request.priority());
  return prepared;
}

}  // namespace gqa
