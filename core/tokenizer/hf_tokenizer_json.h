// Adapter from a Hugging Face tokenizer.json (+ tokenizer_config.json for the
// chat template and bos/eos settings) to a TokenizerSpec / Tokenizer, for
// safetensors checkpoints. Recognises BPE models with a byte-level
// pre-tokenizer (GPT-2, SmolLM/StarCoder digits, Llama 3, Qwen2 regexes) or a
// SentencePiece-style normalizer/pre-tokenizer. Never throws: nlohmann-json's
// exceptions are caught here. Pure functions; thread-safe.
// Details: docs/formats/tokenizer.md.
#ifndef GQA_CORE_TOKENIZER_HF_TOKENIZER_JSON_H_
#define GQA_CORE_TOKENIZER_HF_TOKENIZER_JSON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/env.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/tokenizer_spec.h"

namespace gqa {

// Builds a spec from the text of tokenizer.json and of tokenizer_config.json
// ("" when there is none). INVALID_ARGUMENT naming the file and the problem
// for malformed JSON or a missing/mistyped field; UNIMPLEMENTED naming the
// model type or pre-tokenizer for tokenizers this runtime cannot reproduce.
// Nesting deeper than 128 levels is rejected before parsing.
absl::StatusOr<TokenizerSpec> TokenizerSpecFromHfJson(absl::string_view tokenizer_json,
                                                      absl::string_view tokenizer_config_json);

// Reads `dir`/tokenizer.json and, when it exists, `dir`/tokenizer_config.json
// through `env`, then Tokenizer::Create(). Errors as above, plus Env's.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(Env* env, const std::string& dir);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_HF_TOKENIZER_JSON_H_
