// The JSONL dataset gqa-loadgen replays with --dataset FILE: one request per
// line, an object with exactly one prompt and an optional output length:
//   {"prompt": "Explain KV caching.", "output_len": 128}
//   {"prompt_token_ids": [1, 2, 3], "output_len": 16}
// Empty lines are skipped; any other problem is an error naming the file, the
// line and the field. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_DATASET_H_
#define GQA_TOOLS_GQA_LOADGEN_DATASET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa::loadgen {

struct DatasetEntry {
  // Exactly one of the two is set: text (non-empty) or token ids (non-empty).
  std::string prompt_text;
  std::vector<int32_t> prompt_token_ids;
  // The output tokens to ask for; nullopt: --output-len decides.
  std::optional<int64_t> output_tokens;
  // 1-based line in the file, for messages.
  int64_t line = 0;
};

// Parses JSONL `text`; `display` names it in messages ("FILE:LINE: ...").
// INVALID_ARGUMENT for invalid JSON, a line that is not an object, no prompt
// or both, an empty prompt, a token id that is not an integer >= 0, an
// output_len that is not a positive integer, an unknown key, or no entries.
absl::StatusOr<std::vector<DatasetEntry>> ParseDataset(absl::string_view text,
                                                       absl::string_view display);

// Reads and parses a file. NOT_FOUND / INVALID_ARGUMENT naming --dataset and
// the path when it cannot be read; otherwise as ParseDataset.
absl::StatusOr<std::vector<DatasetEntry>> ReadDataset(const std::string& path);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_DATASET_H_
