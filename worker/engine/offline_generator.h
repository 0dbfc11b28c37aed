// Offline generation of one sequence on a Model: chunked prefill, then one
// decode step per token, with KV blocks taken from a BlockPool as the
// sequence grows and returned at the end. Used by `gqa generate` and
// `gqa perplexity` and as the oracle for the worker's batched results.
// Thread-compatible.
#ifndef GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_
#define GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/env.h"
#include "worker/engine/model.h"
#include "worker/engine/sampler.h"
#include "worker/kv/block_pool.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

struct OfflineRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new_tokens = 64;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;    // generation ends after emitting one of these
  int num_top_logprobs = 0;
  int64_t prefill_chunk_tokens = 256;  // prompt tokens per prefill step
};

enum class FinishReason { kLength, kStopToken, kCallback };

struct OfflineResult {
  std::vector<int32_t> output_ids;
  FinishReason finish_reason = FinishReason::kLength;
  int64_t prefill_ns = 0;  // prompt processing, through the first token's logits
  int64_t decode_ns = 0;   // every later step
};

// Called with each generated token; return false to stop.
using TokenCallback = std::function<bool(const SampledToken&)>;

class OfflineGenerator {
 public:
  OfflineGenerator(Model* model, KvCacheStorage* storage, Env* env)
      : model_(model), storage_(storage), env_(env), pool_(storage->num_blocks()) {}

  // INVALID_ARGUMENT for an empty prompt, ids outside the vocabulary, bad
  // sampling values or prompt + max_new_tokens beyond the trained context;
  // RESOURCE_EXHAUSTED when the KV budget cannot hold the sequence.
  absl::StatusOr<OfflineResult> Generate(const OfflineRequest& request,
                                         const TokenCallback& on_token);

  // Log-probabilities of each token given the ones before it, for
  // perplexity: element i is log p(tokens[i + 1] | tokens[0..i]).
  absl::StatusOr<std::vector<double>> ScoreTokens(const std::vector<int32_t>& tokens,
                                                  int64_t chunk_tokens);

  // As ScoreTokens, plus the `num_top` most likely next tokens at each
  // position (for comparisons with a reference engine).
  struct TokenScore {
    double logprob = 0;  // log p(tokens[i + 1] | tokens[0..i])
    std::vector<std::pair<int32_t, float>> top_logprobs;  // most likely first
  };
  absl::StatusOr<std::vector<TokenScore>> ScoreTokensWithTop(const std::vector<int32_t>& tokens,
                                                             int64_t chunk_tokens, int num_top);

  const BlockPool& pool() const { return pool_; }

 private:
  // Runs tokens [begin, end) of `tokens` (cache already holds [0, begin)),
  // growing `blocks`; logits for the listed offsets (relative to begin).
  absl::Status Step(const std::vector<int32_t>& tokens, int64_t begin, int64_t end,
                    const std::vector<int32_t>& logit_offsets, std::vector<int32_t>& blocks,
                    std::vector<float>& logits);
  absl::Status ValidatePrompt(const std::vector<int32_t>& ids) const;

  Model* model_;
  KvCacheStorage* storage_;
  Env* env_;
  BlockPool pool_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_OFFLINE_GENERATOR_H_
