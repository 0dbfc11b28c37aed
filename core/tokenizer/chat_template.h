// ChatTemplate: renders chat messages into a prompt the way the model's own
// Jinja chat template (GGUF `tokenizer.chat_template`, tokenizer_config.json)
// would, for the template families it recognises by their distinctive markers
// (never by model name): ChatML, Llama 2, Llama 3 and Mistral. Anything else
// is refused so callers fall back to raw prompts. Used by the router.
// Immutable after Create(); thread-safe.
#ifndef GQA_CORE_TOKENIZER_CHAT_TEMPLATE_H_
#define GQA_CORE_TOKENIZER_CHAT_TEMPLATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/tokenizer/tokenizer.h"

namespace gqa {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (ChatML and Llama 3 accept any)
  std::string content;
};

enum class ChatTemplateKind {
  kChatMl,   // <|im_start|>role\ncontent<|im_end|>\n (SmolLM2, Qwen2)
  kLlama2,   // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] answer </s>
  kLlama3,   // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
  kMistral,  // <s>[INST] user [/INST]answer</s>, no <<SYS>> block
};

absl::string_view ChatTemplateKindName(ChatTemplateKind kind);

class ChatTemplate {
 public:
  // Recognises `template_text`. `bos_token` and `eos_token` are the texts the
  // template's bos_token / eos_token variables stand for. FAILED_PRECONDITION
  // when the text is empty or not one of the known families ("chat template
  // not recognised (first 60 chars: ...); use a raw prompt").
  static absl::StatusOr<ChatTemplate> Create(absl::string_view template_text,
                                             absl::string_view bos_token,
                                             absl::string_view eos_token);
  // Create() with the tokenizer's spec().chat_template and bos/eos texts.
  static absl::StatusOr<ChatTemplate> FromTokenizer(const Tokenizer& tokenizer);

  // The prompt for `messages`; with `add_generation_prompt` it ends where the
  // assistant's reply starts. INVALID_ARGUMENT when the family needs turns
  // the messages do not follow (Llama 2 / Mistral: optional system, then
  // user and assistant alternating, starting with user).
  absl::StatusOr<std::string> Render(absl::Span<const ChatMessage> messages,
                                     bool add_generation_prompt) const;

  // Ids generation should stop at: the end-of-turn token and the tokenizer's
  // eos_id (deduplicated). NOT_FOUND when the end-of-turn token is not in the
  // vocab.
  absl::StatusOr<std::vector<int32_t>> StopTokenIds(const Tokenizer& tokenizer) const;

  // How to encode a rendered prompt: parse_special (the turn markers are
  // control tokens) and add_special only when the template does not write
  // bos_token itself.
  EncodeOptions prompt_encode_options() const;

  ChatTemplateKind kind() const { return kind_; }
  // "<|im_end|>", "<|eot_id|>", or the eos token text (Llama 2, Mistral).
  const std::string& end_of_turn_token() const { return end_of_turn_; }
  // ChatML only: the system message the template inserts when the first
  // message is not a system one ("" when it has none).
  const std::string& default_system_prompt() const { return default_system_; }
  bool renders_bos() const { return renders_bos_; }

 private:
  ChatTemplate() = default;
  std::string RenderChatMl(absl::Span<const ChatMessage> messages, bool gen) const;
  std::string RenderLlama3(absl::Span<const ChatMessage> messages, bool gen) const;
  absl::StatusOr<std::string> RenderInst(absl::Span<const ChatMessage> messages) const;

  ChatTemplateKind kind_ = ChatTemplateKind::kChatMl;
  std::string bos_;  // "" unless the template writes bos_token
  std::string eos_;
  std::string end_of_turn_;
  std::string default_system_;
  bool renders_bos_ = false;
};

// Extracts the default system message a ChatML template hard-codes as one
// string literal "<|im_start|>system\n...<|im_end|>"; "" when there is none.
// Exposed for tests.
std::string ExtractChatMlDefaultSystem(absl::string_view template_text);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_CHAT_TEMPLATE_H_
