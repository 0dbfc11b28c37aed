// StopStringMatcher: finds stop strings in streamed text. Text that could
// still be the start of a stop string is held back until it is decided, so a
// client never sees part of a stop string; on a full match the text before it
// is released and generation should end. Used by `gqa generate` and by the
// router, which owns stop strings. Thread-compatible.
#ifndef GQA_CORE_TOKENIZER_STOP_STRINGS_H_
#define GQA_CORE_TOKENIZER_STOP_STRINGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gqa {

class StopStringMatcher {
 public:
  // INVALID_ARGUMENT for an empty stop string or more than 16 of them.
  static absl::StatusOr<StopStringMatcher> Create(std::vector<std::string> stop_strings);

  struct Result {
    std::string released;  // text safe to show now
    bool stopped = false;  // a stop string matched; `released` ends before it
    std::string matched;   // which one
  };

  // Feeds the next piece of generated text. After a stop, further calls
  // release nothing.
  Result Add(absl::string_view text);

  // End of generation without a stop: releases what was held back.
  std::string Flush();

 private:
  explicit StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  std::vector<std::string> stops_;
  std::string pending_;  // undecided text: a suffix that is a prefix of some stop string
  bool stopped_ = false;
};

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_STOP_STRINGS_H_
