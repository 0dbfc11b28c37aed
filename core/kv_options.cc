#include "core/kv_options.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gqa {
namespace {

// A positive decimal integer of at most 18 digits (so that a sum of two stays
// far inside int64): no sign, no spaces, no leading "0x". nullopt otherwise.
std::optional<int64_t> ParsePositive(absl::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value <= 0) return std::nullopt;
  return value;
}

// Splits "A+B" into two positive integers.
std::optional<std::pair<int64_t, int64_t>> ParsePair(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '+');
  if (parts.size() != 2) return std::nullopt;
  std::optional<int64_t> first = ParsePositive(parts[0]);
  std::optional<int64_t> second = ParsePositive(parts[1]);
  if (!first.has_value() || !second.has_value()) return std::nullopt;
  return std::make_pair(*first, *second);
}

absl::Status PolicyError(absl::string_view text, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("--kv-policy '", text, "': expected ", expected));
}

}  // namespace

std::optional<int64_t> KvPolicy::TokenBound() const {
  switch (kind) {
    case Kind::kFull:
      return std::nullopt;
    case Kind::kStreaming:
      return sink_tokens + window_tokens;
    case Kind::kH2o:
      return heavy_tokens + recent_tokens;
    case Kind::kWindow:
      return window_tokens;
  }
  return std::nullopt;
}

int64_t KvPolicy::TokensHeld(int64_t context_tokens) const {
  std::optional<int64_t> bound = TokenBound();
  return bound.has_value() ? std::min(context_tokens, *bound) : context_tokens;
}

absl::string_view KvPolicyKindName(KvPolicy::Kind kind) {
  switch (kind) {
    case KvPolicy::Kind::kFull:
      return "full";
    case KvPolicy::Kind::kStreaming:
      return "streaming";
    case KvPolicy::Kind::kH2o:
      return "h2o";
    case KvPolicy::Kind::kWindow:
      return "window";
  }
  return "unknown";
}

absl::StatusOr<KvPolicy> ParseKvPolicy(absl::string_view text) {
  const size_t colon = text.find(':');
  const absl::string_view name = text.substr(0, colon);
  const bool has_args = colon != absl::string_view::npos;
  const absl::string_view args = has_args ? text.substr(colon + 1) : absl::string_view();

  if (name == "full") {
    if (has_args) return PolicyError(text, "full without arguments");
    return KvPolicy::Full();
  }
  if (name == "streaming") {
    constexpr absl::string_view kExpected =
        "streaming:S+W with positive integers, e.g. streaming:4+1020 (S attention sinks, "
        "W recent tokens; streaming:W means streaming:4+W)";
    if (!has_args) return PolicyError(text, kExpected);
    if (args.find('+') == absl::string_view::npos) {
      std::optional<int64_t> window = ParsePositive(args);
      if (!window.has_value()) return PolicyError(text, kExpected);
      return KvPolicy::Streaming(kDefaultSinkTokens, *window);
    }
    auto pair = ParsePair(args);
    if (!pair.has_value()) return PolicyError(text, kExpected);
    return KvPolicy::Streaming(pair->first, pair->second);
  }
  if (name == "h2o") {
    constexpr absl::string_view kExpected =
        "h2o:H+R with positive integers, e.g. h2o:128+128 (H heavy hitters, R recent tokens)";
    if (!has_args) return PolicyError(text, kExpected);
    auto pair = ParsePair(args);
    if (!pair.has_value()) return PolicyError(text, kExpected);
    return KvPolicy::H2o(pair->first, pair->second);
  }
  if (name == "window") {
    constexpr absl::string_view kExpected =
        "window:W with a positive integer, e.g. window:1024 (W recent tokens)";
    if (!has_args) return PolicyError(text, kExpected);
    std::optional<int64_t> window = ParsePositive(args);
    if (!window.has_value()) return PolicyError(text, kExpected);
    return KvPolicy::Window(*window);
  }
  return PolicyError(text, "one of full|streaming:S+W|h2o:H+R|window:W");
}

std::string FormatKvPolicy(const KvPolicy& policy) {
  switch (policy.kind) {
    case KvPolicy::Kind::kFull:
      return "full";
    case KvPolicy::Kind::kStreaming:
      return absl::StrCat("streaming:", policy.sink_tokens, "+", policy.window_tokens);
    case KvPolicy::Kind::kH2o:
      return absl::StrCat("h2o:", policy.heavy_tokens, "+", policy.recent_tokens);
    case KvPolicy::Kind::kWindow:
      return absl::StrCat("window:", policy.window_tokens);
  }
  return "unknown";
}

absl::StatusOr<DType> ParseKvDType(absl::string_view text) {
  absl::StatusOr<DType> dtype = ParseDType(text);
  if (dtype.ok()) return dtype;
  return absl::InvalidArgumentError(
      absl::StrCat("--kv-dtype '", text, "': expected one of f32|f16|bf16|fp8-e4m3|fp8-e5m2"));
}

}  // namespace gqa
