// Adapter from a GGUF model file's tokenizer.* metadata (llama.cpp's keys)
// to a TokenizerSpec / Tokenizer. The only tokenizer file that knows GGUF.
// Used by the router and tools when they load a .gguf model.
// Pure functions; thread-safe. Keys and defaults: docs/formats/tokenizer.md.
#ifndef GQA_CORE_TOKENIZER_GGUF_TOKENIZER_H_
#define GQA_CORE_TOKENIZER_GGUF_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_spec.h"

namespace gqa {

// Reads tokenizer.ggml.model ("gpt2": byte-level BPE, "llama": SentencePiece),
// .pre, .tokens, .scores, .token_type, .merges, .bos/eos/unknown/padding
// _token_id, .add_bos_token, .add_eos_token, .add_space_prefix and
// tokenizer.chat_template. Absent optional keys get llama.cpp's defaults.
// NOT_FOUND naming the key when tokenizer.ggml.model or .tokens is missing;
// INVALID_ARGUMENT for a key of the wrong type; UNIMPLEMENTED for another
// tokenizer model.
absl::StatusOr<TokenizerSpec> TokenizerSpecFromGguf(const GgufFile& file);

// TokenizerSpecFromGguf() then Tokenizer::Create(); errors name the file.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const GgufFile& file);

// Maps and parses `path` through `env`, then LoadGgufTokenizer(). Errors as
// OpenGguf() and the above.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(Env* env, const std::string& path);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_GGUF_TOKENIZER_H_
