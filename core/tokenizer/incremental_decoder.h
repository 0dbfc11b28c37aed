// IncrementalDecoder: turns a stream of generated token ids into text deltas
// for streaming responses. A delta never ends inside a UTF-8 character: bytes
// of an incomplete character are held back until a later token completes it;
// bytes that can no longer form a character become U+FFFD. Used by the
// router's detokenizer, one decoder per sequence. Thread-compatible; borrows
// the Tokenizer, which must outlive it.
//
// Guarantee: the concatenation of every Add() delta and Finish() equals
// SanitizeUtf8(*tokenizer.Decode(ids, options)) (utf8.h), i.e. Decode()'s
// text whenever that is valid UTF-8, including SentencePiece's leading-space
// handling.
#ifndef GQA_CORE_TOKENIZER_INCREMENTAL_DECODER_H_
#define GQA_CORE_TOKENIZER_INCREMENTAL_DECODER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"

namespace gqa {

class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer* tokenizer, DecodeOptions options = {})
      : tokenizer_(tokenizer), options_(options) {}

  // Returns the text completed by `id` (possibly empty). INVALID_ARGUMENT
  // naming the id and vocab size for an id out of range; the decoder is then
  // unchanged and may continue.
  absl::StatusOr<std::string> Add(int32_t id);

  // Returns what is still held back (an incomplete character becomes
  // U+FFFD) and resets the decoder for a new sequence.
  std::string Finish();

  // Bytes held back, waiting for the rest of a character (0..3).
  size_t num_pending_bytes() const { return utf8_.num_pending_bytes(); }

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  DecodeState state_;
  Utf8Stream utf8_;
};

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_INCREMENTAL_DECODER_H_
