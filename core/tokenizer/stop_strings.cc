#include "core/tokenizer/stop_strings.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gqa {

absl::StatusOr<StopStringMatcher> StopStringMatcher::Create(std::vector<std::string> stops) {
  if (stops.size() > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat(stops.size(), " stop strings given; at most 16 are allowed"));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("stop string ", i, " is empty"));
    }
  }
  return StopStringMatcher(std::move(stops));
}

StopStringMatcher::Result StopStringMatcher::Add(absl::string_view text) {
  Result result;
  if (stopped_) return result;
  pending_.append(text.data(), text.size());
  // The earliest full match wins (the longest stop on a tie at one position).
  size_t best_pos = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& stop : stops_) {
    const size_t pos = pending_.find(stop);
    if (pos != std::string::npos &&
        (pos < best_pos || (pos == best_pos && stop.size() > best->size()))) {
      best_pos = pos;
      best = &stop;
    }
  }
  if (best != nullptr) {
    result.released = pending_.substr(0, best_pos);
    result.stopped = true;
    result.matched = *best;
    pending_.clear();
    stopped_ = true;
    return result;
  }
  // Hold back the longest suffix that is a proper prefix of a stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (absl::string_view(pending_).substr(pending_.size() - len) ==
          absl::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  result.released = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopStringMatcher::Flush() {
  std::string rest;
  rest.swap(pending_);
  return stopped_ ? std::string() : rest;
}

}  // namespace gqa
