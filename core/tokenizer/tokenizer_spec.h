// TokenizerSpec: everything a tokenizer needs, as plain data, independent of
// the file format it came from. Adapters fill it from GGUF metadata
// (gguf_tokenizer.h) or Hugging Face tokenizer.json (hf_tokenizer_json.h);
// Tokenizer::Create validates it. Value type; thread-compatible.
// Format notes: docs/formats/tokenizer.md.
#ifndef GQA_CORE_TOKENIZER_TOKENIZER_SPEC_H_
#define GQA_CORE_TOKENIZER_TOKENIZER_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gqa {

// Per-token types, numbered as GGUF's `tokenizer.ggml.token_type` (and
// llama.cpp's llama_token_type).
enum TokenType : int32_t {
  kTokenUndefined = 0,
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,      // <|im_start|>, <s>: matched whole when parse_special
  kTokenUserDefined = 4,  // always matched whole, even without parse_special
  kTokenUnused = 5,
  kTokenByte = 6,  // SentencePiece byte fallback <0xAB>
};

struct TokenizerSpec {
  enum class Kind {
    kByteLevelBpe,      // GPT-2 style: bytes as printable chars, merges by rank
    kSentencePieceBpe,  // Llama-2 style: "▁" for spaces, merges by score, <0xAB> bytes
  };
  Kind kind = Kind::kByteLevelBpe;

  std::vector<std::string> tokens;   // [vocab_size] token text as stored in the vocab
  std::vector<float> scores;         // [vocab_size] or empty; SentencePiece merge priority
  std::vector<int32_t> token_types;  // [vocab_size] TokenType values, or empty (all normal)
  std::vector<std::string> merges;   // "left right", highest priority first (byte-level BPE)

  // Byte-level BPE pre-tokenizer, GGUF `tokenizer.ggml.pre` naming: "smollm",
  // "gpt2", "llama-bpe", "qwen2", "default" (pre_tokenizer.h). Ignored for
  // SentencePiece.
  std::string pre_tokenizer = "default";

  int32_t bos_id = -1;  // -1: none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;           // Encode() prepends bos_id when add_special
  bool add_eos = false;           // Encode() appends eos_id when add_special
  bool add_space_prefix = false;  // SentencePiece: " " before text at start/after specials

  std::string chat_template;  // Jinja source from the model file, or empty
};

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_TOKENIZER_SPEC_H_
