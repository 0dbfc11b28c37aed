// Token sampling on the host: penalties, greedy, temperature, top-k, top-p,
// min-p, with a counter-based random stream keyed by (seed, output index) so
// that a sequence resumed elsewhere from prompt + generated tokens continues
// with exactly the same draws. Pure functions; thread-safe.
#ifndef GQA_WORKER_ENGINE_SAMPLER_H_
#define GQA_WORKER_ENGINE_SAMPLER_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gqa {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy (argmax, ties to the lowest id); [0, 100]
  int32_t top_k = 0;                // keep the k most likely tokens; 0: all
  float top_p = 1.0f;               // nucleus: smallest set with mass >= top_p; (0, 1]
  float min_p = 0.0f;               // drop tokens below min_p x the top probability; [0, 1)
  float repetition_penalty = 1.0f;  // CTRL-style over prompt and output tokens; (0, 10]
  float frequency_penalty = 0.0f;   // OpenAI-style, per occurrence in the output; [-2, 2]
  float presence_penalty = 0.0f;    // OpenAI-style, once per token present in the output; [-2, 2]
  uint64_t seed = 0;                // keys the random stream together with the output index
};

// INVALID_ARGUMENT naming the field and its range.
absl::Status ValidateSamplingParams(const SamplingParams& params);

struct SampledToken {
  int32_t token_id = 0;
  float logprob = 0.0f;  // log-softmax of the model's raw logits
  std::vector<std::pair<int32_t, float>> top_logprobs;  // most likely first
};

// Samples output token number `output_idx` (0-based, counting tokens already
// generated before a resume) from `logits` [vocab]. `prompt_ids` and
// `output_ids` feed the penalties. REQUIRES: ValidateSamplingParams(params).
SampledToken SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                         absl::Span<const int32_t> prompt_ids,
                         absl::Span<const int32_t> output_ids, int64_t output_idx,
                         int num_top_logprobs);

// log(sum(exp(logits))), computed stably in double. REQUIRES: non-empty.
double LogSumExp(absl::Span<const float> logits);

// The `k` largest logits with their ids, largest first, ties to the lower id.
std::vector<std::pair<int32_t, float>> TopLogits(absl::Span<const float> logits, int k);

// The uniform draw in [0, 1) used for (seed, output_idx).
double SamplerUniform(uint64_t seed, int64_t output_idx);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_SAMPLER_H_
