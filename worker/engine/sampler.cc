#include "worker/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

absl::Status OutOfRange(const char* field, double value, const char* range) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling parameter ", field, "=", value, " outside ", range));
}

void ApplyPenalties(std::vector<float>& logits, const SamplingParams& p,
                    absl::Span<const int32_t> prompt_ids, absl::Span<const int32_t> output_ids) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (p.repetition_penalty != 1.0f) {
    std::vector<bool> seen(vocab, false);
    for (auto ids : {prompt_ids, output_ids}) {
      for (int32_t id : ids) {
        if (id < 0 || id >= vocab || seen[id]) continue;
        seen[id] = true;
        float& logit = logits[id];
        logit = logit > 0 ? logit / p.repetition_penalty : logit * p.repetition_penalty;
      }
    }
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    absl::flat_hash_map<int32_t, int> counts;
    for (int32_t id : output_ids) {
      if (id >= 0 && id < vocab) ++counts[id];
    }
    for (const auto& [id, count] : counts) {
      logits[id] -= p.frequency_penalty * count + p.presence_penalty;
    }
  }
}

int32_t Argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Draws from the filtered distribution (temperature, top-k, top-p, min-p).
int32_t Draw(const std::vector<float>& logits, const SamplingParams& p, double uniform) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  // Most likely first; ties by lower id so the order is fully determined.
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = order.size();
  if (p.top_k > 0) keep = std::min<size_t>(keep, static_cast<size_t>(p.top_k));
  std::vector<double> probs(keep);
  const double top = logits[order[0]] / p.temperature;
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(logits[order[i]] / p.temperature - top);
    total += probs[i];
  }
  size_t kept = 0;
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) {
    const double prob = probs[i] / total;
    if (i > 0 && prob < p.min_p * (probs[0] / total)) break;
    mass += prob;
    ++kept;
    if (mass >= p.top_p) break;
  }
  double kept_total = 0;
  for (size_t i = 0; i < kept; ++i) kept_total += probs[i];
  double target = uniform * kept_total;
  for (size_t i = 0; i < kept; ++i) {
    target -= probs[i];
    if (target < 0) return order[i];
  }
  return order[kept - 1];
}

}  // namespace

double LogSumExp(absl::Span<const float> logits) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float logit : logits) total += std::exp(static_cast<double>(logit) - max_logit);
  return std::log(total) + max_logit;
}

std::vector<std::pair<int32_t, float>> TopLogits(absl::Span<const float> logits, int k) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t n = std::min<size_t>(std::max(k, 0), order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<std::pair<int32_t, float>> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.emplace_back(order[i], logits[order[i]]);
  return top;
}

absl::Status ValidateSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0 && p.temperature <= 100)) return OutOfRange("temperature", p.temperature, "[0, 100]");
  if (p.top_k < 0) return OutOfRange("top_k", p.top_k, "[0, vocab] (0 disables)");
  if (!(p.top_p > 0 && p.top_p <= 1)) return OutOfRange("top_p", p.top_p, "(0, 1]");
  if (!(p.min_p >= 0 && p.min_p < 1)) return OutOfRange("min_p", p.min_p, "[0, 1)");
  if (!(p.repetition_penalty > 0 && p.repetition_penalty <= 10)) {
    return OutOfRange("repetition_penalty", p.repetition_penalty, "(0, 10]");
  }
  if (!(std::fabs(p.frequency_penalty) <= 2)) return OutOfRange("frequency_penalty", p.frequency_penalty, "[-2, 2]");
  if (!(std::fabs(p.presence_penalty) <= 2)) return OutOfRange("presence_penalty", p.presence_penalty, "[-2, 2]");
  return absl::OkStatus();
}

double SamplerUniform(uint64_t seed, int64_t output_idx) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(output_idx));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

SampledToken SampleToken(absl::Span<const float> raw_logits, const SamplingParams& params,
                         absl::Span<const int32_t> prompt_ids,
                         absl::Span<const int32_t> output_ids, int64_t output_idx,
                         int num_top_logprobs) {
  std::vector<float> logits(raw_logits.begin(), raw_logits.end());
  ApplyPenalties(logits, params, prompt_ids, output_ids);
  SampledToken sampled;
  sampled.token_id = params.temperature == 0.0f
                         ? Argmax(logits)
                         : Draw(logits, params, SamplerUniform(params.seed, output_idx));
  const double log_total = LogSumExp(raw_logits);
  sampled.logprob = static_cast<float>(raw_logits[sampled.token_id] - log_total);
  for (const auto& [id, logit] : TopLogits(raw_logits, num_top_logprobs)) {
    sampled.top_logprobs.emplace_back(id, static_cast<float>(logit - log_total));
  }
  return sampled;
}

}  // namespace gqa
