#include "core/tokenizer/chat_template.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr absl::string_view kImStart = "<|im_start|>";
constexpr absl::string_view kImEnd = "<|im_end|>";
constexpr absl::string_view kStartHeader = "<|start_header_id|>";
constexpr absl::string_view kEndHeader = "<|end_header_id|>";
constexpr absl::string_view kEotId = "<|eot_id|>";

// Reads the Jinja string literal whose opening quote is at `text[open]`.
// Returns false when it is not terminated.
bool ReadStringLiteral(absl::string_view text, size_t open, std::string* value) {
  const char quote = text[open];
  value->clear();
  for (size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == quote) return true;
    if (c != '\\' || i + 1 >= text.size()) {
      value->push_back(c);
      continue;
    }
    const char e = text[++i];
    switch (e) {
      case 'n':
        value->push_back('\n');
        break;
      case 't':
        value->push_back('\t');
        break;
      case 'r':
        value->push_back('\r');
        break;
      default:
        value->push_back(e);  // \\, \', \" and anything else: the character itself
    }
  }
  return false;
}

// Jinja's trim / Python's str.strip(): ASCII whitespace at both ends.
std::string Trim(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

}  // namespace

absl::string_view ChatTemplateKindName(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatMl:
      return "chatml";
    case ChatTemplateKind::kLlama2:
      return "llama2";
    case ChatTemplateKind::kLlama3:
      return "llama3";
    case ChatTemplateKind::kMistral:
      return "mistral";
  }
  return "unknown";
}

std::string ExtractChatMlDefaultSystem(absl::string_view template_text) {
  const std::string marker = absl::StrCat(kImStart, "system");
  std::string literal;
  for (size_t pos = template_text.find(marker); pos != absl::string_view::npos;
       pos = template_text.find(marker, pos + 1)) {
    if (pos == 0) continue;
    const char quote = template_text[pos - 1];
    if (quote != '\'' && quote != '"') continue;
    if (!ReadStringLiteral(template_text, pos - 1, &literal)) continue;
    // A whole turn in one literal: "<|im_start|>system\n" body "<|im_end|>" ["\n"].
    absl::string_view body = literal;
    if (!absl::ConsumePrefix(&body, absl::StrCat(marker, "\n"))) continue;
    absl::ConsumeSuffix(&body, "\n");
    if (!absl::ConsumeSuffix(&body, kImEnd)) continue;
    if (body.empty() || absl::StrContains(body, kImStart)) continue;
    return std::string(body);
  }
  return "";
}

absl::StatusOr<ChatTemplate> ChatTemplate::Create(absl::string_view text,
                                                  absl::string_view bos_token,
                                                  absl::string_view eos_token) {
  if (text.empty()) {
    return absl::FailedPreconditionError("model has no chat template; use a raw prompt");
  }
  ChatTemplate t;
  if (absl::StrContains(text, kStartHeader) && absl::StrContains(text, kEotId)) {
    t.kind_ = ChatTemplateKind::kLlama3;
    t.end_of_turn_ = std::string(kEotId);
  } else if (absl::StrContains(text, kImStart) && absl::StrContains(text, kImEnd)) {
    t.kind_ = ChatTemplateKind::kChatMl;
    t.end_of_turn_ = std::string(kImEnd);
    t.default_system_ = ExtractChatMlDefaultSystem(text);
  } else if (absl::StrContains(text, "[INST]") && absl::StrContains(text, "<<SYS>>")) {
    t.kind_ = ChatTemplateKind::kLlama2;
  } else if (absl::StrContains(text, "[INST]") && absl::StrContains(text, "[/INST]")) {
    t.kind_ = ChatTemplateKind::kMistral;
  } else {
    size_t cut = std::min<size_t>(60, text.size());
    while (cut < text.size() && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) --cut;
    return absl::FailedPreconditionError(
        absl::StrCat("chat template not recognised (first 60 chars: ", text.substr(0, cut),
                     "); use a raw prompt"));
  }
  if (t.kind_ == ChatTemplateKind::kLlama2 || t.kind_ == ChatTemplateKind::kMistral) {
    if (eos_token.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          ChatTemplateKindName(t.kind_), " chat template needs an eos token; use a raw prompt"));
    }
    t.end_of_turn_ = std::string(eos_token);
  }
  t.renders_bos_ = absl::StrContains(text, "bos_token") && !bos_token.empty();
  if (t.renders_bos_) t.bos_ = std::string(bos_token);
  t.eos_ = std::string(eos_token);
  return t;
}

absl::StatusOr<ChatTemplate> ChatTemplate::FromTokenizer(const Tokenizer& tokenizer) {
  std::string bos;
  std::string eos;
  if (tokenizer.bos_id() >= 0) bos = std::string(*tokenizer.TokenText(tokenizer.bos_id()));
  if (tokenizer.eos_id() >= 0) eos = std::string(*tokenizer.TokenText(tokenizer.eos_id()));
  return Create(tokenizer.spec().chat_template, bos, eos);
}

absl::StatusOr<std::string> ChatTemplate::Render(absl::Span<const ChatMessage> messages,
                                                 bool add_generation_prompt) const {
  switch (kind_) {
    case ChatTemplateKind::kChatMl:
      return RenderChatMl(messages, add_generation_prompt);
    case ChatTemplateKind::kLlama3:
      return RenderLlama3(messages, add_generation_prompt);
    case ChatTemplateKind::kLlama2:
    case ChatTemplateKind::kMistral:
      // NOTE: these templates end a user turn with [/INST], which already
      // is the generation prompt; add_generation_prompt changes nothing.
      return RenderInst(messages);
  }
  return absl::InternalError("unknown chat template kind");
}

std::string ChatTemplate::RenderChatMl(absl::Span<const ChatMessage> messages, bool gen) const {
  std::string out = bos_;
  auto turn = [&](absl::string_view role, absl::string_view content) {
    absl::StrAppend(&out, kImStart, role, "\n", content, kImEnd, "\n");
  };
  if (!messages.empty() && messages[0].role != "system" && !default_system_.empty()) {
    turn("system", default_system_);
  }
  for (const ChatMessage& m : messages) turn(m.role, m.content);
  if (gen) absl::StrAppend(&out, kImStart, "assistant\n");
  return out;
}

std::string ChatTemplate::RenderLlama3(absl::Span<const ChatMessage> messages, bool gen) const {
  std::string out = bos_;
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, kStartHeader, m.role, kEndHeader, "\n\n", Trim(m.content), kEotId);
  }
  if (gen) absl::StrAppend(&out, kStartHeader, "assistant", kEndHeader, "\n\n");
  return out;
}

absl::StatusOr<std::string> ChatTemplate::RenderInst(absl::Span<const ChatMessage> messages) const {
  const bool llama2 = kind_ == ChatTemplateKind::kLlama2;
  std::string system;
  bool has_system = false;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    has_system = true;
    messages.remove_prefix(1);
  }
  // Mistral writes bos_token once up front; Llama 2 before every user turn.
  std::string out = llama2 ? "" : bos_;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const char* expected = i % 2 == 0 ? "user" : "assistant";
    if (m.role != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(ChatTemplateKindName(kind_),
                       " chat template needs an optional system message, then "
                       "user and assistant turns alternating from user; message ",
                       i + has_system, " has role '", m.role, "' where '", expected, "' belongs"));
    }
    std::string content = m.content;
    if (i == 0 && has_system) {
      content = llama2 ? absl::StrCat("<<SYS>>\n", system, "\n<</SYS>>\n\n", content)
                       : absl::StrCat(system, "\n\n", content);
    }
    if (m.role == "user") {
      if (llama2) {
        absl::StrAppend(&out, bos_, "[INST] ", Trim(content), " [/INST]");
      } else {
        absl::StrAppend(&out, "[INST] ", content, " [/INST]");
      }
    } else if (llama2) {
      absl::StrAppend(&out, " ", Trim(content), " ", eos_);
    } else {
      absl::StrAppend(&out, content, eos_);
    }
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> ChatTemplate::StopTokenIds(const Tokenizer& tokenizer) const {
  const int32_t eot = tokenizer.FindToken(end_of_turn_);
  if (eot < 0) {
    return absl::NotFoundError(absl::StrCat("end-of-turn token '", end_of_turn_, "' of the ",
                                            ChatTemplateKindName(kind_),
                                            " chat template is not in the vocab"));
  }
  std::vector<int32_t> ids = {eot};
  if (tokenizer.eos_id() >= 0 && tokenizer.eos_id() != eot) ids.push_back(tokenizer.eos_id());
  return ids;
}

EncodeOptions ChatTemplate::prompt_encode_options() const {
  EncodeOptions options;
  options.parse_special = true;
  options.add_special = !renders_bos_;
  return options;
}

}  // namespace gqa
