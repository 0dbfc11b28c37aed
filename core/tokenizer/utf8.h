// UTF-8 helpers for the tokenizers: lenient decoding into code points with
// byte spans, encoding, and a streaming sanitizer that turns invalid UTF-8
// into U+FFFD without ever splitting a character across two outputs.
// Used by the pre-tokenizers, Tokenizer::Decode and IncrementalDecoder.
// Pure functions and value types; thread-compatible.
#ifndef GQA_CORE_TOKENIZER_UTF8_H_
#define GQA_CORE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gqa {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// One decoded character: its code point and where its bytes are.
struct Utf8Char {
  char32_t cp = 0;
  uint32_t offset = 0;  // byte offset in the decoded text
  uint32_t length = 0;  // bytes, 1..4
};

// Decodes `text` leniently: each byte that does not start a well-formed
// sequence (bad lead, bad continuation, truncated, overlong, surrogate) becomes
// one U+FFFD character spanning exactly that byte, so the spans always tile
// the input and the original bytes stay recoverable.
std::vector<Utf8Char> DecodeUtf8(absl::string_view text);

// Appends the UTF-8 encoding of `cp` (U+FFFD if `cp` is not a scalar value).
void AppendUtf8(char32_t cp, std::string* out);

// Length of the sequence a lead byte announces, as llama.cpp's SentencePiece
// splitter counts it: 1 for ASCII and stray continuation bytes, 2 for 0xC0..,
// 3 for 0xE0.., 4 for 0xF0.. (the caller clamps to the text's end).
size_t Utf8SequenceLength(uint8_t lead);

// Streaming sanitizer: Append() emits every complete, well-formed character
// and replaces each maximal invalid subpart (Unicode's "substitution of
// maximal subparts") by one U+FFFD; a trailing prefix that could still become
// a valid character is held back until more bytes arrive or Finish().
// The output never depends on how the input was chunked.
class Utf8Stream {
 public:
  void Append(absl::string_view bytes, std::string* out);
  // Flushes a held-back incomplete sequence as U+FFFD and resets.
  void Finish(std::string* out);
  // Bytes held back (0..3).
  size_t num_pending_bytes() const { return pending_.size(); }

 private:
  std::string pending_;
};

// Utf8Stream over the whole input: valid UTF-8 is returned unchanged.
std::string SanitizeUtf8(absl::string_view bytes);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_UTF8_H_
