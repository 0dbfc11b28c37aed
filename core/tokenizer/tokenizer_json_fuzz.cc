// libFuzzer target: arbitrary bytes as tokenizer.json (and, split at the
// first NUL, tokenizer_config.json) must yield a Status or a working
// tokenizer, never a crash, a hang or an escaped exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/hf_tokenizer_json.h"
#include "core/tokenizer/incremental_decoder.h"
#include "core/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const absl::string_view json = input.substr(0, nul);
  const absl::string_view config =
      nul == absl::string_view::npos ? absl::string_view() : input.substr(nul + 1);
  auto spec = gqa::TokenizerSpecFromHfJson(json, config);
  if (!spec.ok()) return 0;
  auto tokenizer = gqa::Tokenizer::Create(*std::move(spec));
  if (!tokenizer.ok()) return 0;
  const gqa::Tokenizer& tok = **tokenizer;
  const std::string text = "Hello wörld 123 <|im_start|>\n\t 😀 <s>";
  const std::vector<int32_t> ids = tok.Encode(text);
  auto decoded = tok.Decode(ids);
  gqa::IncrementalDecoder decoder(&tok);
  for (const int32_t id : ids) (void)decoder.Add(id);
  (void)decoder.Finish();
  (void)tok.Decode({-1, tok.vocab_size()});
  auto chat = gqa::ChatTemplate::FromTokenizer(tok);
  if (chat.ok()) (void)chat->Render({{"user", "hi"}}, true);
  return 0;
}
