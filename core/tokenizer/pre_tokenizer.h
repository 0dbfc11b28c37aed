// Pre-tokenizers for byte-level BPE: split text into the words that BPE
// merges stay inside, reproducing the regex lists llama.cpp uses per
// `tokenizer.ggml.pre` (llama-vocab.cpp) with hand-written, linear-time
// matchers (no regex engine, no backtracking). Used by Tokenizer.
// Stateless; thread-safe.
#ifndef GQA_CORE_TOKENIZER_PRE_TOKENIZER_H_
#define GQA_CORE_TOKENIZER_PRE_TOKENIZER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa {

enum class PreTokenizerKind {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // Every \p{N} code point isolated, then kGpt2 (SmolLM, StarCoder).
  kSmollm,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (Llama 3)
  kLlama3,
  // kLlama3 with \p{N} instead of \p{N}{1,3} (Qwen2).
  kQwen2,
  // llama.cpp's fallback list for an unnamed pre-tokenizer:
  // [\p{P}$+<=>^~|]+, then kGpt2, then \p{N}+, then [0-9][0-9][0-9].
  kDefault,
};

// Maps a GGUF `tokenizer.ggml.pre` value ("smollm", "gpt2", "llama-bpe",
// "qwen2", "default", "" ...) to a kind. UNIMPLEMENTED naming the value for
// one this runtime does not reproduce.
absl::StatusOr<PreTokenizerKind> PreTokenizerKindFromName(absl::string_view name);
absl::string_view PreTokenizerKindName(PreTokenizerKind kind);

// Splits `text` into words: non-empty views into `text` that tile it in
// order. Invalid UTF-8 bytes are classified as U+FFFD but keep their bytes.
std::vector<absl::string_view> PreTokenize(PreTokenizerKind kind, absl::string_view text);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_PRE_TOKENIZER_H_
