// Strict JSON parsing for the safetensors reader and the Hugging Face config
// and index files: like nlohmann::json::parse, but duplicate keys (which
// nlohmann silently collapses) and deep nesting are errors, and nothing
// throws. Internal to gqa_core_safetensors. Pure functions; thread-safe.
#ifndef GQA_CORE_SAFETENSORS_STRICT_JSON_H_
#define GQA_CORE_SAFETENSORS_STRICT_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace gqa {

// Containers nested deeper than this are rejected before parsing.
inline constexpr int kStrictJsonMaxDepth = 64;

// Parses `text` as one JSON value. INVALID_ARGUMENT starting with
// "`display`: " for invalid JSON (with nlohmann's position), nesting deeper
// than kStrictJsonMaxDepth, or a key that occurs twice in one object (naming
// the key and its enclosing key).
absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, absl::string_view display);

// "object", "array", "string", "integer", "number", "boolean" or "null".
absl::string_view JsonTypeName(const nlohmann::json& value);

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_STRICT_JSON_H_
