// Workload: the prompt and output length of request i of a gqa-loadgen run,
// a pure function of (options, i): lengths fixed or uniform, prompts of
// random token ids or words, or replayed from a JSONL dataset, and a shared
// prefix mode (N distinct system prompts of L tokens, prepended to a
// fraction of the requests) for prefix caching and KV-aware routing. The
// same seed gives the same requests. Immutable after Create; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_WORKLOAD_H_
#define GQA_TOOLS_GQA_LOADGEN_WORKLOAD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/gqa_loadgen/dataset.h"

namespace gqa::loadgen {

// A token count, fixed ("128") or uniform over an inclusive range ("64:256").
struct LengthSpec {
  int64_t min_tokens = 128;
  int64_t max_tokens = 128;

  // INVALID_ARGUMENT naming `flag` unless N or LO:HI with 1 <= LO <= HI.
  static absl::StatusOr<LengthSpec> Parse(absl::string_view flag, absl::string_view text);
  std::string ToString() const;
};

// --shared-prefix COUNT,LENGTH,FRACTION.
struct SharedPrefixSpec {
  int64_t num_prefixes = 0;   // distinct system prompts, >= 1
  int64_t prefix_tokens = 0;  // tokens (words in text mode) of each, >= 1
  double fraction = 0;        // of the requests that get one, in [0, 1]

  static absl::StatusOr<SharedPrefixSpec> Parse(absl::string_view text);
  std::string ToString() const;
};

enum class PromptFormat { kTokenIds, kText };

struct WorkloadOptions {
  LengthSpec input;   // the request's own prompt (after any shared prefix)
  LengthSpec output;  // max tokens, unless a dataset entry says
  std::optional<SharedPrefixSpec> shared_prefix;
  PromptFormat format = PromptFormat::kTokenIds;
  // Token ids are drawn from [first_token_id, vocab_size); 0 lets Create pick
  // 256 when the vocabulary is large (above the special tokens) and 0 otherwise.
  int64_t vocab_size = 32000;
  int64_t first_token_id = 0;
  uint64_t seed = 0;
  std::vector<DatasetEntry> dataset;  // empty: synthetic prompts
};

// One request to send.
struct RequestSpec {
  int64_t index = 0;
  // Exactly one is non-empty (text only with PromptFormat::kText or a text
  // dataset entry).
  std::vector<int32_t> prompt_token_ids;
  std::string prompt_text;
  int64_t max_tokens = 0;
  // Which shared prefix the prompt starts with; -1: none.
  int32_t prefix_group = -1;
};

class Workload {
 public:
  // INVALID_ARGUMENT for a vocabulary too small, or a dataset token id outside
  // [0, vocab_size) (naming the line).
  static absl::StatusOr<Workload> Create(WorkloadOptions options);

  RequestSpec Make(int64_t index) const;
  const WorkloadOptions& options() const { return options_; }

 private:
  explicit Workload(WorkloadOptions options) : options_(std::move(options)) {}

  WorkloadOptions options_;
  std::vector<std::vector<int32_t>> prefix_ids_;  // token-id mode
  std::vector<std::string> prefix_texts_;         // text mode
  std::vector<int64_t> dataset_order_;            // seeded shuffle of the entries
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_WORKLOAD_H_
