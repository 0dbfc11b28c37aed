// Offline generation of one sequence on a Model: chunked prefill, then one
// decode step per token, with KV blocks taken from a KvCacheManager as the
// sequence grows (or its slots reused, under a bounded policy) and returned
// at the end. Used by `gqa generate` and `gqa perplexity` and as the oracle
// for the worker's batched results. Thread-compatible.
#ifndef GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_
#define GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "core/kv_options.h"
#include "worker/engine/forward_batch.h"
#include "worker/engine/model.h"
#include "worker/engine/sampler.h"
#include "worker/kv/kv_cache_manager.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

struct OfflineRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new_tokens = 64;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;    // generation ends after emitting one of these
  int num_top_logprobs = 0;
  int64_t prefill_chunk_tokens = 256;  // prompt tokens per prefill step (at most a
                                       // block under a bounded policy)
  KvPolicy kv_policy = KvPolicy::Full();
  std::string tenant;                  // prefix-cache isolation
};

enum class FinishReason { kLength, kStopToken, kCallback };

struct OfflineResult {
  std::vector<int32_t> output_ids;
  FinishReason finish_reason = FinishReason::kLength;
  int64_t prefill_ns = 0;  // prompt processing, through the first token's logits
  int64_t decode_ns = 0;   // every later step
  int64_t reused_prefix_tokens = 0;  // prompt tokens found in the prefix cache
  KvUsage kv_usage;                  // at the end of generation
  int64_t evicted_tokens = 0;        // by a bounded policy (per KV head for h2o)
};

// Called with each generated token; return false to stop.
using TokenCallback = std::function<bool(const SampledToken&)>;

class OfflineGenerator {
 public:
  OfflineGenerator(Model* model, KvCacheStorage* storage, Env* env);

  // INVALID_ARGUMENT for an empty prompt, ids outside the vocabulary, bad
  // sampling values or, under the full policy, prompt + max_new_tokens
  // beyond the trained context (the bounded policies keep a constant window
  // and may run past it); RESOURCE_EXHAUSTED when the KV budget cannot hold
  // the sequence.
  absl::StatusOr<OfflineResult> Generate(const OfflineRequest& request,
                                         const TokenCallback& on_token);

  // Log-probabilities of each token given the ones before it, for
  // perplexity: element i is log p(tokens[i + 1] | tokens[0..i]), through
  // one sequence under `policy` in steps of `chunk_tokens` (at most a block
  // under a bounded policy; 1 evaluates it exactly token by token).
  absl::StatusOr<std::vector<double>> ScoreTokens(const std::vector<int32_t>& tokens,
                                                  int64_t chunk_tokens,
                                                  const KvPolicy& policy = KvPolicy::Full());

  // As ScoreTokens, plus the `num_top` most likely next tokens at each
  // position (for comparisons with a reference engine).
  struct TokenScore {
    double logprob = 0;  // log p(tokens[i + 1] | tokens[0..i])
    std::vector<std::pair<int32_t, float>> top_logprobs;  // most likely first
  };
  absl::StatusOr<std::vector<TokenScore>> ScoreTokensWithTop(
      const std::vector<int32_t>& tokens, int64_t chunk_tokens, int num_top,
      const KvPolicy& policy = KvPolicy::Full());

  // log p(tokens.back() | the tokens before it), from an empty cache under
  // the full policy, with logits for that one position only (the
  // sliding-window-with-recomputation reference of StreamingLLM).
  absl::StatusOr<double> ScoreLastToken(const std::vector<int32_t>& tokens, int64_t chunk_tokens);

  const KvCacheManager& kv() const { return kv_; }

 private:
  // Runs `tokens` as the next step of `seq`; logits for the listed offsets.
  absl::Status Step(SequenceKv& seq, absl::Span<const int32_t> tokens,
                    std::vector<int32_t> logit_offsets, std::vector<float>& logits);
  // Runs tokens[seq.num_tokens(), size) in steps of `chunk_tokens` (at most
  // MaxStepTokens); `logits` ends with the last token's row.
  absl::Status Prefill(SequenceKv& seq, absl::Span<const int32_t> tokens, int64_t chunk_tokens,
                       std::vector<float>& logits);
  absl::Status ValidatePrompt(const std::vector<int32_t>& ids) const;
  // INVALID_ARGUMENT when `length` positions do not fit the policy: the
  // trained context for the full policy.
  absl::Status ValidateLength(int64_t length, const KvPolicy& policy, absl::string_view what) const;

  Model* model_;
  KvCacheStorage* storage_;
  Env* env_;
  KvCacheManager kv_;
  ForwardBatch batch_;              // step scratch
  std::vector<float> column_sums_;  // step scratch (h2o)
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_
