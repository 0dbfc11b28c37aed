#include "core/tokenizer/chat_template.h"

#include <string>
#include <vector>

#include "core/tokenizer/tokenizer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// SmolLM2-135M-Instruct's template, as stored in its GGUF.
constexpr char kSmolLm2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

// Escaped newlines and a system literal that is only a prefix (Qwen2 style).
constexpr char kQwenLike[] =
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
    "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- \"<|im_start|>system\\nYou are "
    "Qwen, a \\\"helpful\\\" assistant.<|im_end|>\\n\" }}{%- endif %}...";

constexpr char kLlama3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
    "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

constexpr char kLlama2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
    "system_message = messages[0]['content'] %}{% else %}...{{ bos_token + '[INST] ' + "
    "content.strip() + ' [/INST]' }}... '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' ... "
    "{{ ' '  + content.strip() + ' ' + eos_token }}";

constexpr char kMistral[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token}}{% endif %}{% endfor %}";

ChatTemplate Must(absl::string_view text) {
  auto t = ChatTemplate::Create(text, "<s>", "</s>");
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

TEST(ChatTemplateTest, ChatMlWithDefaultSystemFromTheTemplate) {
  const ChatTemplate t = Must(kSmolLm2);
  EXPECT_EQ(t.kind(), ChatTemplateKind::kChatMl);
  EXPECT_EQ(t.end_of_turn_token(), "<|im_end|>");
  EXPECT_FALSE(t.renders_bos());
  EXPECT_EQ(*t.Render({{"user", "Hi"}}, true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(*t.Render({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}}, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello<|im_end|>\n");
}

TEST(ChatTemplateTest, ExtractsEscapedDefaultSystemOnlyFromWholeTurns) {
  EXPECT_EQ(ExtractChatMlDefaultSystem(kQwenLike), "You are Qwen, a \"helpful\" assistant.");
  EXPECT_EQ(ExtractChatMlDefaultSystem("{{'<|im_start|>system\\n' + m + '<|im_end|>'}}"), "");
  EXPECT_EQ(Must("<|im_start|>{{x}}<|im_end|>").default_system_prompt(), "");
}

TEST(ChatTemplateTest, Llama3) {
  const ChatTemplate t = Must(kLlama3);
  EXPECT_EQ(t.kind(), ChatTemplateKind::kLlama3);
  EXPECT_TRUE(t.renders_bos());
  EXPECT_FALSE(t.prompt_encode_options().add_special);
  EXPECT_EQ(*t.Render({{"system", "S"}, {"user", "  Hi \n"}}, true),
            "<s><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(t.end_of_turn_token(), "<|eot_id|>");
}

TEST(ChatTemplateTest, Llama2) {
  const ChatTemplate t = Must(kLlama2);
  EXPECT_EQ(t.kind(), ChatTemplateKind::kLlama2);
  EXPECT_EQ(
      *t.Render({{"system", "Sys"}, {"user", "Hi "}, {"assistant", "Yo"}, {"user", "Q"}}, true),
      "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\nHi [/INST] Yo </s><s>[INST] Q [/INST]");
  EXPECT_EQ(t.end_of_turn_token(), "</s>");
  const auto bad = t.Render({{"assistant", "x"}}, true);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("'assistant'"));
}

TEST(ChatTemplateTest, Mistral) {
  const ChatTemplate t = Must(kMistral);
  EXPECT_EQ(t.kind(), ChatTemplateKind::kMistral);
  EXPECT_EQ(*t.Render({{"user", "Hi"}, {"assistant", "Yo"}, {"user", "Q"}}, true),
            "<s>[INST] Hi [/INST]Yo</s>[INST] Q [/INST]");
  EXPECT_EQ(*t.Render({{"system", "Sys"}, {"user", "Hi"}}, true), "<s>[INST] Sys\n\nHi [/INST]");
}

TEST(ChatTemplateTest, UnrecognisedTemplatesAreRefusedWithAHint) {
  const std::string odd(100, 'x');
  const auto t = ChatTemplate::Create("{% for m in messages %}" + odd, "<s>", "</s>");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(t.status().message(), HasSubstr("not recognised (first 60 chars: {% for m in"));
  EXPECT_THAT(t.status().message(), HasSubstr("use a raw prompt"));
  EXPECT_THAT(t.status().message(), ::testing::Not(HasSubstr(odd)));
  EXPECT_EQ(ChatTemplate::Create("", "", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ChatTemplateTest, StopTokensFromTheTokenizer) {
  TokenizerSpec spec = ByteLevelTestSpec();
  spec.chat_template = kSmolLm2;
  spec.eos_id = 0;
  auto tok = MustCreate(spec);
  auto t = ChatTemplate::FromTokenizer(*tok);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(*t->StopTokenIds(*tok), ElementsAre(2, 0));  // <|im_end|>, then eos
  const auto prompt = t->Render({{"user", "hello"}}, true);
  const auto ids = tok->Encode(*prompt, t->prompt_encode_options());
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(ids.back(), ByteLevelTestId("Ċ"));
  auto llama3 = ChatTemplate::Create(kLlama3, "<s>", "</s>");
  EXPECT_EQ(llama3->StopTokenIds(*tok).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gqa
