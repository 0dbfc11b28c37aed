// `gqa perplexity`: the standard chunked perplexity of a local model on a
// text file (as llama.cpp's perplexity tool): the text is tokenized once, cut
// into independent windows of --ctx tokens, each window is scored from an
// empty KV cache, and the result is exp(mean NLL) over the scored tokens.
// The evaluation is a library function over a window scorer so that tests
// can run it on tiny models and the KV policies (--kv-policy, --stream) can
// bring their own scorer. --stream instead runs the whole text through one
// sequence, token by token (StreamingLLM's evaluation), and reports
// per-segment values; --recompute W is its reference, a sliding window of W
// tokens recomputed from scratch for every scored token. Thread-compatible.
#ifndef GQA_TOOLS_GQA_PERPLEXITY_COMMAND_H_
#define GQA_TOOLS_GQA_PERPLEXITY_COMMAND_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/env.h"

namespace gqa {

int RunPerplexityCommand(int argc, char** argv);

struct PerplexityOptions {
  // Window length N in tokens, the BOS token included. REQUIRES: >= 2.
  int64_t ctx_tokens = 2048;
  // >= 0: each window starts with this token, followed by N - 1 text tokens
  // (for tokenizers that add a BOS). -1 (default): N text tokens per window.
  int32_t bos_id = -1;
  // Evaluate at most this many windows (the first ones); 0: all.
  int64_t max_windows = 0;
};

// One window of the evaluation. Scoring: every token of the window after its
// first is scored, each given all the window's tokens before it.
// NOTE: llama.cpp scores only the second half of each window (every scored
// token then has at least N/2 tokens of context), so for the same N its
// perplexity is lower than this one; ours uses every token of the text but
// the first of each window.
struct PerplexityWindow {
  int64_t first_token_idx = 0;  // index of its first text token in the text
  int64_t num_tokens = 0;       // window length, BOS included
  int64_t num_scored = 0;       // num_tokens - 1
  double nll_sum = 0;           // sum of -log p(token | earlier tokens), nats
  int64_t elapsed_ns = 0;
  double mean_nll() const { return nll_sum / static_cast<double>(num_scored); }
};

struct PerplexityResult {
  std::vector<PerplexityWindow> windows;
  int64_t num_text_tokens = 0;
  int64_t num_scored = 0;
  int64_t num_dropped = 0;  // text tokens after the last full window, not evaluated
  double nll_sum = 0;
  double mean_nll() const { return nll_sum / static_cast<double>(num_scored); }
  double perplexity() const;  // exp(mean_nll())
};

// Log p(window[i + 1] | window[0..i]) for i in [0, size - 1): what
// OfflineGenerator::ScoreTokens returns for a window.
using WindowScorer =
    std::function<absl::StatusOr<std::vector<double>>(const std::vector<int32_t>& window)>;
// Called after each window with its index and the number of windows.
using WindowCallback = std::function<void(const PerplexityWindow&, int64_t idx, int64_t count)>;

// Windows: consecutive, non-overlapping slices of `text_tokens` of N text
// tokens (N - 1 with a BOS), as llama.cpp: only whole windows are evaluated
// and the remainder is dropped (num_dropped), except that a text shorter than
// one window gives one shorter window. INVALID_ARGUMENT when nothing can be
// scored (a text of fewer than 2 tokens, or 0 with a BOS) or ctx_tokens < 2;
// the scorer's errors otherwise. `on_window` may be null; `env` times windows.
absl::StatusOr<PerplexityResult> EvaluatePerplexity(absl::Span<const int32_t> text_tokens,
                                                    const PerplexityOptions& options,
                                                    const WindowScorer& score,
                                                    const WindowCallback& on_window, Env* env);

// Groups per-token scores of one long stream into segments of
// `segment_tokens` consecutive text positions (by the position of the
// predicted token): scored[k] = (index of the predicted token, log p).
// Segments with nothing scored are left out.
PerplexityResult SegmentStreamScores(const std::vector<std::pair<int64_t, double>>& scored,
                                     int64_t num_text_tokens, int64_t segment_tokens);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_PERPLEXITY_COMMAND_H_
