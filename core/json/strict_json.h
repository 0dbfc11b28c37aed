// Strict JSON parsing for model files (safetensors headers, Hugging Face
// config, index and tokenizer files): like nlohmann::json::parse, but
// duplicate keys (which nlohmann silently collapses) and deep nesting are
// errors, and nothing throws. Library gqa_core_json. Pure functions;
// thread-safe.
#ifndef GQA_CORE_JSON_STRICT_JSON_H_
#define GQA_CORE_JSON_STRICT_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace gqa {

// Containers nested deeper than this are rejected before parsing.
inline constexpr int kStrictJsonMaxDepth = 64;

// True when no container in `text` is nested deeper than `max_depth`
// (brackets inside strings do not count), checked without parsing, so that a
// parser cannot exhaust the stack.
bool JsonNestingWithinLimit(absl::string_view text, int max_depth);

// Parses `text` as one JSON value. INVALID_ARGUMENT starting with
// "`display`: " for invalid JSON (with nlohmann's position), nesting deeper
// than kStrictJsonMaxDepth, or a key that occurs twice in one object (naming
// the key and its enclosing key).
absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, absl::string_view display);

// "object", "array", "string", "integer", "number", "boolean" or "null".
absl::string_view JsonTypeName(const nlohmann::json& value);

}  // namespace gqa

#endif  // GQA_CORE_JSON_STRICT_JSON_H_
