#include "core/tokenizer/tokenizer_test_util.h"

#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/log.h"
#include "core/tokenizer/unicode_props.h"

namespace gqa {
namespace {

// Merge lines in rank order; their results are appended to the vocab.
const std::vector<std::string>& ByteLevelMerges() {
  static const auto* merges = new std::vector<std::string>{
      "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d", "Ġ Ġ", "ĠĠ ĠĠ",
      // "é" = C3 A9 -> "Ã©"; "😀" = F0 9F 98 80 -> "ðŁĺĢ"
      "Ã ©", "ð Ł", "ðŁ ĺ", "ðŁĺ Ģ"};
  return *merges;
}

int32_t IdIn(const TokenizerSpec& spec, const std::string& text) {
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.tokens[i] == text) return static_cast<int32_t>(i);
  }
  LOG(FATAL) << "test vocab has no token '" << text << "'";
  return -1;
}

}  // namespace

TokenizerSpec ByteLevelTestSpec(const std::string& pre_tokenizer) {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kByteLevelBpe;
  spec.pre_tokenizer = pre_tokenizer;
  spec.tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"};
  spec.token_types = {kTokenControl, kTokenControl, kTokenControl, kTokenUserDefined};
  for (int b = 0; b < 256; ++b) {
    spec.tokens.push_back(ByteToGpt2Char(static_cast<uint8_t>(b)));
    spec.token_types.push_back(kTokenNormal);
  }
  for (const std::string& merge : ByteLevelMerges()) {
    const size_t space = merge.find(' ');
    spec.tokens.push_back(merge.substr(0, space) + merge.substr(space + 1));
    spec.token_types.push_back(kTokenNormal);
  }
  spec.merges = ByteLevelMerges();
  spec.bos_id = 0;
  spec.eos_id = 0;
  spec.unk_id = 0;
  spec.chat_template =
      "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>'}}";
  return spec;
}

int32_t ByteLevelTestId(const std::string& text) { return IdIn(ByteLevelTestSpec(), text); }

TokenizerSpec SentencePieceTestSpec() {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kSentencePieceBpe;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.token_types = {kTokenUnknown, kTokenControl, kTokenControl};
  spec.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    spec.tokens.push_back(absl::StrFormat("<0x%02X>", b));
    spec.token_types.push_back(kTokenByte);
    spec.scores.push_back(0);
  }
  const std::vector<std::pair<std::string, float>> pieces = {
      {"▁", -1},     {"h", -2},      {"e", -3},       {"l", -4},   {"o", -5},
      {"w", -6},     {"r", -7},      {"d", -8},       {"he", -10}, {"ll", -11},
      {"hell", -12}, {"hello", -13}, {"▁hello", -14}, {"▁w", -15}, {"or", -16},
      {"▁wor", -17}, {"ld", -9},     {"▁world", -18}, {"▁▁", -19}, {"é", -20}};
  for (const auto& [text, score] : pieces) {
    spec.tokens.push_back(text);
    spec.token_types.push_back(kTokenNormal);
    spec.scores.push_back(score);
  }
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  spec.add_space_prefix = true;
  return spec;
}

int32_t SentencePieceTestId(const std::string& text) { return IdIn(SentencePieceTestSpec(), text); }

std::unique_ptr<Tokenizer> MustCreate(TokenizerSpec spec) {
  auto tokenizer = Tokenizer::Create(std::move(spec));
  CHECK(tokenizer.ok()) << tokenizer.status();
  return *std::move(tokenizer);
}

}  // namespace gqa
