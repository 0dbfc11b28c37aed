#include "worker/engine/offline_generator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/kv_size.h"
#include "core/status.h"
#include "worker/engine/step_builder.h"

namespace gqa {
namespace {

// Positions a bounded-policy sequence may reach: its slots stay constant, so
// only the position type limits it.
constexpr int64_t kMaxBoundedPositions = int64_t{1} << 30;

// Returns the sequence's blocks to the pool when it ends, however it ends.
class SequenceReleaser {
 public:
  SequenceReleaser(KvCacheManager& kv, SequenceKv& seq) : kv_(kv), seq_(seq) {}
  SequenceReleaser(const SequenceReleaser&) = delete;
  SequenceReleaser& operator=(const SequenceReleaser&) = delete;
  ~SequenceReleaser() { kv_.Release(seq_); }

 private:
  KvCacheManager& kv_;
  SequenceKv& seq_;
};

std::vector<int32_t> AllOffsets(int64_t count) {
  std::vector<int32_t> offsets(count);
  for (int64_t i = 0; i < count; ++i) offsets[i] = static_cast<int32_t>(i);
  return offsets;
}

}  // namespace

OfflineGenerator::OfflineGenerator(Model* model, KvCacheStorage* storage, Env* env)
    : model_(model), storage_(storage), env_(env), kv_(KvManagerOptionsFor(*model, *storage)) {}

absl::Status OfflineGenerator::ValidatePrompt(const std::vector<int32_t>& ids) const {
  if (ids.empty()) return absl::InvalidArgumentError("prompt is empty; give at least one token");
  const int64_t vocab = model_->config().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " has id ", ids[i],
                                                     ", outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status OfflineGenerator::ValidateLength(int64_t length, const KvPolicy& policy,
                                              absl::string_view what) const {
  const int64_t limit =
      policy.TokenBound().has_value() ? kMaxBoundedPositions : model_->config().context_tokens;
  if (length > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " reaches ", length, " tokens, beyond ",
        policy.TokenBound().has_value() ? "the longest supported sequence of "
                                        : "the trained context of ",
        limit, policy.TokenBound().has_value() ? "" : "; a bounded --kv-policy runs past it"));
  }
  return absl::OkStatus();
}

absl::Status OfflineGenerator::Step(SequenceKv& seq, absl::Span<const int32_t> tokens,
                                    std::vector<int32_t> logit_offsets,
                                    std::vector<float>& logits) {
  std::vector<KvBlockCopy> copies;
  ASSIGN_OR_RETURN(bool reserved, kv_.Reserve(seq, tokens, copies));
  if (!reserved) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache full: ", seq.num_tokens() + static_cast<int64_t>(tokens.size()),
        " tokens need ", kv_.BlocksNeeded(seq, static_cast<int64_t>(tokens.size())),
        " more blocks, ", kv_.pool().num_free_blocks(), " of ", kv_.pool().num_blocks(),
        " are free; raise --kv-bytes"));
  }
  RETURN_IF_ERROR(model_->CopyKvBlocks(storage_->layer_views(), copies));
  const StepSequence step{&seq, tokens, std::move(logit_offsets)};
  BuildForwardBatch({&step, 1}, storage_->block_size(), model_->config().num_layers,
                    model_->policy_kv_heads(), batch_);
  RETURN_IF_ERROR(model_->Forward(batch_, storage_->layer_views(), logits, &column_sums_));
  const StepColumnSums sums = ColumnSumsOf(batch_, {&step, 1}, 0, column_sums_);
  kv_.Commit(seq, &sums);
  return absl::OkStatus();
}

absl::Status OfflineGenerator::Prefill(SequenceKv& seq, absl::Span<const int32_t> tokens,
                                       int64_t chunk_tokens, std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t chunk = std::clamp<int64_t>(chunk_tokens, 1, kv_.MaxStepTokens(seq));
  for (int64_t begin = seq.num_tokens(); begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    std::vector<int32_t> wanted;
    if (end == n) wanted.push_back(static_cast<int32_t>(end - begin - 1));
    RETURN_IF_ERROR(Step(seq, tokens.subspan(begin, end - begin), std::move(wanted), logits));
  }
  return absl::OkStatus();
}

absl::StatusOr<OfflineResult> OfflineGenerator::Generate(const OfflineRequest& request,
                                                         const TokenCallback& on_token) {
  RETURN_IF_ERROR(ValidatePrompt(request.prompt_ids));
  RETURN_IF_ERROR(ValidateSamplingParams(request.sampling));
  const ModelConfig& config = model_->config();
  const int64_t prompt_len = static_cast<int64_t>(request.prompt_ids.size());
  if (request.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens=", request.max_new_tokens, " must be at least 1"));
  }
  RETURN_IF_ERROR(ValidateLength(prompt_len + request.max_new_tokens, request.kv_policy,
                                 absl::StrCat("a ", prompt_len, "-token prompt with max_tokens=",
                                              request.max_new_tokens)));
  std::unique_ptr<SequenceKv> seq = kv_.Begin(request.kv_policy, request.tenant, request.prompt_ids,
                                              prompt_len + request.max_new_tokens);
  SequenceReleaser releaser(kv_, *seq);
  std::vector<int32_t> tokens = request.prompt_ids;
  OfflineResult result;
  result.reused_prefix_tokens = seq->reused_prefix_tokens();
  std::vector<float> logits;
  int64_t start_ns = env_->NowNanos();
  RETURN_IF_ERROR(Prefill(*seq, tokens, request.prefill_chunk_tokens, logits));
  result.prefill_ns = env_->NowNanos() - start_ns;
  start_ns = env_->NowNanos();
  for (int64_t i = 0; i < request.max_new_tokens; ++i) {
    if (i > 0) {
      RETURN_IF_ERROR(Step(*seq, absl::MakeConstSpan(tokens).subspan(tokens.size() - 1, 1), {0},
                           logits));
    }
    const SampledToken sampled =
        SampleToken(absl::MakeConstSpan(logits).subspan(0, config.vocab_size), request.sampling,
                    request.prompt_ids, result.output_ids, i, request.num_top_logprobs);
    tokens.push_back(sampled.token_id);
    result.output_ids.push_back(sampled.token_id);
    if (on_token && !on_token(sampled)) {
      result.finish_reason = FinishReason::kCallback;
      break;
    }
    if (std::find(request.stop_ids.begin(), request.stop_ids.end(), sampled.token_id) !=
        request.stop_ids.end()) {
      result.finish_reason = FinishReason::kStopToken;
      break;
    }
  }
  result.decode_ns = env_->NowNanos() - start_ns;
  result.kv_usage = kv_.Usage(*seq);
  result.evicted_tokens = seq->evicted_tokens();
  return result;
}

absl::StatusOr<std::vector<double>> OfflineGenerator::ScoreTokens(
    const std::vector<int32_t>& tokens, int64_t chunk_tokens, const KvPolicy& policy) {
  ASSIGN_OR_RETURN(std::vector<TokenScore> scores,
                   ScoreTokensWithTop(tokens, chunk_tokens, 0, policy));
  std::vector<double> logprobs;
  logprobs.reserve(scores.size());
  for (const TokenScore& score : scores) logprobs.push_back(score.logprob);
  return logprobs;
}

absl::StatusOr<double> OfflineGenerator::ScoreLastToken(const std::vector<int32_t>& tokens,
                                                        int64_t chunk_tokens) {
  RETURN_IF_ERROR(ValidatePrompt(tokens));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) return absl::InvalidArgumentError("scoring the last token needs at least 2 tokens");
  RETURN_IF_ERROR(ValidateLength(n, KvPolicy::Full(), absl::StrCat("a window of ", n, " tokens")));
  std::unique_ptr<SequenceKv> seq = kv_.Begin(KvPolicy::Full(), "", {}, n);
  SequenceReleaser releaser(kv_, *seq);
  std::vector<float> logits;
  RETURN_IF_ERROR(Prefill(*seq, absl::MakeConstSpan(tokens).first(n - 1), chunk_tokens, logits));
  const absl::Span<const float> row =
      absl::MakeConstSpan(logits).subspan(0, model_->config().vocab_size);
  return row[tokens.back()] - LogSumExp(row);
}

absl::StatusOr<std::vector<OfflineGenerator::TokenScore>> OfflineGenerator::ScoreTokensWithTop(
    const std::vector<int32_t>& tokens, int64_t chunk_tokens, int num_top,
    const KvPolicy& policy) {
  RETURN_IF_ERROR(ValidatePrompt(tokens));
  const int64_t n = static_cast<int64_t>(tokens.size());
  RETURN_IF_ERROR(ValidateLength(n, policy, absl::StrCat("a window of ", n, " tokens")));
  const int64_t vocab = model_->config().vocab_size;
  // No prefix reuse: every position's logits are wanted.
  std::unique_ptr<SequenceKv> seq = kv_.Begin(policy, "", {}, n);
  SequenceReleaser releaser(kv_, *seq);
  std::vector<TokenScore> scores;
  std::vector<float> logits;
  const int64_t chunk = std::clamp<int64_t>(chunk_tokens, 1, kv_.MaxStepTokens(*seq));
  for (int64_t begin = 0; begin < n - 1; begin += chunk) {
    const int64_t end = std::min(n - 1, begin + chunk);
    RETURN_IF_ERROR(Step(*seq, absl::MakeConstSpan(tokens).subspan(begin, end - begin),
                         AllOffsets(end - begin), logits));
    for (int64_t i = 0; i < end - begin; ++i) {
      const absl::Span<const float> row = absl::MakeConstSpan(logits).subspan(i * vocab, vocab);
      const double log_total = LogSumExp(row);
      TokenScore score;
      score.logprob = row[tokens[begin + i + 1]] - log_total;
      for (const auto& [id, logit] : TopLogits(row, num_top)) {
        score.top_logprobs.emplace_back(id, static_cast<float>(logit - log_total));
      }
      scores.push_back(std::move(score));
    }
  }
  return scores;
}

}  // namespace gqa
