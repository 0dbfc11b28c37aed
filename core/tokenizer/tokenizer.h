// Tokenizer: text <-> token ids for byte-level BPE (GPT-2/SmolLM2/Llama-3
// style) and SentencePiece BPE (Llama-2 style) vocabularies, matching
// llama.cpp's tokenization. Built from a TokenizerSpec (tokenizer_spec.h);
// used by the router (prompts, detokenization) and tools.
// Immutable after Create(); thread-safe (all methods are const).
// Behaviour and deviations from llama.cpp: docs/formats/tokenizer.md.
#ifndef GQA_CORE_TOKENIZER_TOKENIZER_H_
#define GQA_CORE_TOKENIZER_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/tokenizer/bpe_merge.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/tokenizer_spec.h"

namespace gqa {

struct EncodeOptions {
  // Prepend bos_id / append eos_id as the spec's add_bos / add_eos say.
  // Default true (llama.cpp's add_special).
  bool add_special = true;
  // Match the text of CONTROL and UNKNOWN tokens ("<|im_start|>", "<s>") as
  // single tokens. Default true, which rendered chat templates need; pass
  // false for untrusted raw text so it cannot inject control tokens.
  // USER_DEFINED tokens are matched either way (as llama.cpp and HF do).
  bool parse_special = true;
};

struct DecodeOptions {
  // Render CONTROL and UNKNOWN tokens as nothing. Default false: their text
  // ("<|im_end|>") is emitted, so Decode(Encode(text)) == text.
  bool skip_special = false;
};

// Where a decode stands between tokens; DecodeAppend() updates it.
struct DecodeState {
  // SentencePiece with add_space_prefix: drop one leading space from the
  // next normal piece (the one Encode() added at the start of the text and
  // after each special token).
  bool at_text_start = true;
};

class Tokenizer {
 public:
  // Validates `spec` and builds the lookup tables. INVALID_ARGUMENT naming
  // the problem for an empty vocab, mismatched array sizes, special ids out
  // of range or a malformed merge; UNIMPLEMENTED for an unknown pre-tokenizer.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(TokenizerSpec spec);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids for `text` (any bytes; invalid UTF-8 is encoded byte-wise
  // where the vocab can, never dropped silently unless it has no byte tokens
  // and no unk).
  std::vector<int32_t> Encode(absl::string_view text, const EncodeOptions& options = {}) const;

  // Concatenated bytes of `ids` (not necessarily valid UTF-8 when a
  // character spans tokens that are not all present). INVALID_ARGUMENT
  // naming the id and the vocab size for an id out of range.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     const DecodeOptions& options = {}) const;
  // Appends the bytes of one token to `out`, as Decode() would in sequence.
  // Errors as Decode(); `out` and `state` are untouched on error.
  absl::Status DecodeAppend(int32_t id, const DecodeOptions& options, DecodeState* state,
                            std::string* out) const;

  // The bytes token `id` stands for ("Ġhello" -> " hello", "▁hi" -> " hi",
  // "<0x0A>" -> "\n", "<|im_end|>" as is). Valid for the tokenizer's life.
  absl::StatusOr<absl::string_view> TokenPiece(int32_t id) const;
  // The token's text as stored in the vocab. Valid for the tokenizer's life.
  absl::StatusOr<absl::string_view> TokenText(int32_t id) const;
  // The id whose vocab text is exactly `text`, or -1.
  int32_t FindToken(absl::string_view text) const;
  // CONTROL, UNKNOWN or USER_DEFINED (matched whole in text). False if out of range.
  bool IsSpecial(int32_t id) const;
  // OK, or INVALID_ARGUMENT "token id 50000 out of range [0, 49152)".
  absl::Status CheckId(int32_t id) const;

  // SHA-256 (64 lower-case hex characters) of everything that decides how
  // text becomes tokens and back: kind, vocabulary, scores, token types,
  // merges, pre-tokenizer, special ids and flags, chat template. Equal for
  // the same tokenizer read from GGUF or tokenizer.json when the specs agree.
  std::string Fingerprint() const;

  int32_t vocab_size() const { return static_cast<int32_t>(spec_.tokens.size()); }
  int32_t bos_id() const { return spec_.bos_id; }
  int32_t eos_id() const { return spec_.eos_id; }
  TokenizerSpec::Kind kind() const { return spec_.kind; }
  PreTokenizerKind pre_tokenizer() const { return pre_tokenizer_; }
  const TokenizerSpec& spec() const { return spec_; }

 private:
  // A piece of input text: a special token or raw text to tokenize.
  struct Fragment {
    int32_t token_id;  // -1 for raw text
    absl::string_view text;
  };

  explicit Tokenizer(TokenizerSpec spec) : spec_(std::move(spec)) {}
  absl::Status Init();
  void InitLookups();  // lookup_, special_ids_, byte_ids_
  absl::Status InitMerges();
  void InitPieces();

  int32_t TypeOf(int32_t id) const;
  std::vector<Fragment> SplitSpecial(absl::string_view text, bool parse_special) const;
  void EncodeByteLevel(absl::string_view text, std::vector<int32_t>* out) const;
  void EncodeSentencePiece(absl::string_view text, std::vector<int32_t>* out) const;
  void AppendByteTokens(absl::string_view bytes, std::vector<int32_t>* out) const;

  TokenizerSpec spec_;
  PreTokenizerKind pre_tokenizer_ = PreTokenizerKind::kDefault;
  bool ignore_merges_ = false;  // a whole word in the vocab skips merging (Llama 3)
  TokenLookup lookup_;          // views spec_.tokens
  MergeTable merges_;
  std::vector<int32_t> special_ids_;     // longest text first
  std::array<int32_t, 256> byte_ids_{};  // byte -> token id, -1 if none
  std::vector<std::string> pieces_;      // [vocab_size] decoded bytes
};

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_TOKENIZER_H_
