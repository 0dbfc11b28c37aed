// Test-only hand-built vocabularies for the tokenizer tests: a byte-level BPE
// vocab (all 256 byte tokens, a few merges, control and user-defined tokens)
// and a SentencePiece vocab (scores, <0xAB> byte fallback, <unk>/<s>/</s>).
// Pure functions; thread-compatible.
#ifndef GQA_CORE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define GQA_CORE_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <memory>
#include <string>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_spec.h"

namespace gqa {

// Ids: 0 "<|endoftext|>" (control, bos/eos/unk), 1 "<|im_start|>",
// 2 "<|im_end|>" (control), 3 "<tool>" (user-defined), 4..259 the byte
// tokens in byte order, then the merge results in merge order: "he", "ll",
// "hell", "hello", "Ġw", "or", "Ġwor", "Ġworl", "Ġworld", "Ġ" + "Ġ" ...
// Merges also cover "é" (C3 A9) and "😀" (F0 9F 98 80) as whole tokens.
TokenizerSpec ByteLevelTestSpec(const std::string& pre_tokenizer = "gpt2");

// The id of `text` in ByteLevelTestSpec() (CHECK-fails when absent).
int32_t ByteLevelTestId(const std::string& text);

// Ids: 0 "<unk>" (unknown), 1 "<s>" (control, bos), 2 "</s>" (control, eos),
// 3..258 "<0x00>".."<0xFF>" (byte), then normal pieces with scores:
// "▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "hell", "hello",
// "▁hello", "▁w", "or", "▁wor", "ld", "▁world", "▁▁", "é".
// add_bos and add_space_prefix are set.
TokenizerSpec SentencePieceTestSpec();
int32_t SentencePieceTestId(const std::string& text);

// Tokenizer::Create() of a spec, CHECK-failing on error.
std::unique_ptr<Tokenizer> MustCreate(TokenizerSpec spec);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
