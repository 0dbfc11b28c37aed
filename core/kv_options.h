// The KV option grammar, the project's one spelling of a KV cache policy and
// storage dtype everywhere (flags, protos, docs):
//   --kv-policy full|streaming:S+W|h2o:H+R|window:W
//   --kv-dtype  f32|f16|bf16|fp8-e4m3|fp8-e5m2
// Used by the gqa tools, the router's request validation and the worker's
// policies. Plain values and pure functions; thread-safe. See docs/kv-size.md.
#ifndef GQA_CORE_KV_OPTIONS_H_
#define GQA_CORE_KV_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"

namespace gqa {

// StreamingLLM's attention sinks when `streaming:W` gives only the window.
inline constexpr int64_t kDefaultSinkTokens = 4;

// Which tokens of a sequence the KV cache keeps. Only the fields of `kind`
// are meaningful; the others stay 0 (so == compares policies exactly).
struct KvPolicy {
  enum class Kind { kFull, kStreaming, kH2o, kWindow };

  Kind kind = Kind::kFull;
  int64_t sink_tokens = 0;    // streaming: S, the first tokens (attention sinks)
  int64_t window_tokens = 0;  // streaming, window: W, the most recent tokens
  int64_t heavy_tokens = 0;   // h2o: H, the largest accumulated attention
  int64_t recent_tokens = 0;  // h2o: R, the most recent tokens

  static KvPolicy Full() { return KvPolicy{}; }
  static KvPolicy Streaming(int64_t sink_tokens, int64_t window_tokens) {
    return KvPolicy{Kind::kStreaming, sink_tokens, window_tokens, 0, 0};
  }
  static KvPolicy H2o(int64_t heavy_tokens, int64_t recent_tokens) {
    return KvPolicy{Kind::kH2o, 0, 0, heavy_tokens, recent_tokens};
  }
  static KvPolicy Window(int64_t window_tokens) {
    return KvPolicy{Kind::kWindow, 0, window_tokens, 0, 0};
  }

  // The most tokens a sequence keeps: S+W, H+R or W; nullopt for full
  // (unbounded: the sequence keeps every token).
  std::optional<int64_t> TokenBound() const;

  // Tokens a sequence of `context_tokens` keeps: min(context_tokens, bound).
  int64_t TokensHeld(int64_t context_tokens) const;

  friend bool operator==(const KvPolicy&, const KvPolicy&) = default;
};

// "full", "streaming", "h2o", "window".
absl::string_view KvPolicyKindName(KvPolicy::Kind kind);

// Parses the --kv-policy grammar (case-sensitive, no spaces):
//   full | streaming:S+W | streaming:W (= streaming:4+W) | h2o:H+R | window:W
// with every number a positive decimal integer and S+W, H+R within int64.
// INVALID_ARGUMENT naming --kv-policy, the text and the expected form, e.g.
//   --kv-policy 'h2o:5': expected h2o:H+R with positive integers, e.g. h2o:128+128
absl::StatusOr<KvPolicy> ParseKvPolicy(absl::string_view text);

// The canonical spelling: "full", "streaming:4+1020", "h2o:128+128",
// "window:1024". ParseKvPolicy(FormatKvPolicy(p)) == p for every valid p.
std::string FormatKvPolicy(const KvPolicy& policy);

// Parses the --kv-dtype grammar (the DType names of core/dtype.h).
// INVALID_ARGUMENT naming --kv-dtype and the valid names otherwise.
absl::StatusOr<DType> ParseKvDType(absl::string_view text);

}  // namespace gqa

#endif  // GQA_CORE_KV_OPTIONS_H_
