#include "worker/engine/offline_generator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {
namespace {

// Returns the blocks to the pool when generation ends, however it ends.
class BlockReleaser {
 public:
  BlockReleaser(BlockPool& pool, std::vector<int32_t>& blocks) : pool_(pool), blocks_(blocks) {}
  BlockReleaser(const BlockReleaser&) = delete;
  BlockReleaser& operator=(const BlockReleaser&) = delete;
  ~BlockReleaser() { pool_.Free(blocks_); }

 private:
  BlockPool& pool_;
  std::vector<int32_t>& blocks_;
};

}  // namespace

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

absl::Status OfflineGenerator::Step(const std::vector<int32_t>& tokens, int64_t begin, int64_t end,
                                    const std::vector<int32_t>& logit_offsets,
                                    std::vector<int32_t>& blocks, std::vector<float>& logits) {
  const int64_t block_size = storage_->block_size();
  const int64_t needed = (end + block_size - 1) / block_size - static_cast<int64_t>(blocks.size());
  if (needed > 0) {
    auto fresh = pool_.TryAllocate(needed);
    if (!fresh) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "KV cache full: ", end, " tokens need ", (end + block_size - 1) / block_size,
          " blocks, the budget holds ", pool_.num_blocks(), "; raise --kv-bytes"));
    }
    blocks.insert(blocks.end(), fresh->begin(), fresh->end());
  }
  ForwardBatch batch;
  batch.num_seqs = 1;
  batch.max_blocks_per_seq = static_cast<int64_t>(blocks.size());
  batch.block_tables = blocks;
  for (int64_t pos = begin; pos < end; ++pos) {
    batch.token_ids.push_back(tokens[pos]);
    batch.positions.push_back(static_cast<int32_t>(pos));
    batch.seq_idx.push_back(0);
    batch.context_lens.push_back(static_cast<int32_t>(pos + 1));
    batch.slot_mapping.push_back(static_cast<int64_t>(blocks[pos / block_size]) * block_size +
                                 pos % block_size);
  }
  batch.logit_token_idx = logit_offsets;
  return model_->Forward(batch, storage_->layer_views(), logits);
}

absl::StatusOr<OfflineResult> OfflineGenerator::Generate(const OfflineRequest& request,
                                                         const TokenCallback& on_token) {
  RETURN_IF_ERROR(ValidatePrompt(request.prompt_ids));
  RETURN_IF_ERROR(ValidateSamplingParams(request.sampling));
  const ModelConfig& config = model_->config();
  const int64_t prompt_len = static_cast<int64_t>(request.prompt_ids.size());
  if (request.max_new_tokens < 1 || prompt_len + request.max_new_tokens > config.context_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_tokens=", request.max_new_tokens, " with a ", prompt_len,
        "-token prompt must be >= 1 and fit the trained context of ", config.context_tokens,
        " tokens; lower max_tokens"));
  }
  std::vector<int32_t> tokens = request.prompt_ids;
  std::vector<int32_t> blocks;
  BlockReleaser releaser(pool_, blocks);
  OfflineResult result;
  std::vector<float> logits;
  const int64_t chunk = std::max<int64_t>(1, request.prefill_chunk_tokens);
  int64_t start_ns = env_->NowNanos();
  for (int64_t begin = 0; begin < prompt_len; begin += chunk) {
    const int64_t end = std::min(prompt_len, begin + chunk);
    const std::vector<int32_t> wanted =
        end == prompt_len ? std::vector<int32_t>{static_cast<int32_t>(end - begin - 1)}
                          : std::vector<int32_t>{};
    RETURN_IF_ERROR(Step(tokens, begin, end, wanted, blocks, logits));
  }
  result.prefill_ns = env_->NowNanos() - start_ns;
  start_ns = env_->NowNanos();
  for (int64_t i = 0; i < request.max_new_tokens; ++i) {
    if (i > 0) {
      const int64_t pos = static_cast<int64_t>(tokens.size()) - 1;
      RETURN_IF_ERROR(Step(tokens, pos, pos + 1, {0}, blocks, logits));
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
  return result;
}

absl::StatusOr<std::vector<double>> OfflineGenerator::ScoreTokens(
    const std::vector<int32_t>& tokens, int64_t chunk_tokens) {
  ASSIGN_OR_RETURN(std::vector<TokenScore> scores, ScoreTokensWithTop(tokens, chunk_tokens, 0));
  std::vector<double> logprobs;
  logprobs.reserve(scores.size());
  for (const TokenScore& score : scores) logprobs.push_back(score.logprob);
  return logprobs;
}

absl::StatusOr<std::vector<OfflineGenerator::TokenScore>> OfflineGenerator::ScoreTokensWithTop(
    const std::vector<int32_t>& tokens, int64_t chunk_tokens, int num_top) {
  RETURN_IF_ERROR(ValidatePrompt(tokens));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n > model_->config().context_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("window of ", n,
                                                   " tokens exceeds the trained context of ",
                                                   model_->config().context_tokens));
  }
  const int64_t vocab = model_->config().vocab_size;
  std::vector<int32_t> blocks;
  BlockReleaser releaser(pool_, blocks);
  std::vector<TokenScore> scores;
  std::vector<float> logits;
  const int64_t chunk = std::max<int64_t>(1, chunk_tokens);
  for (int64_t begin = 0; begin < n - 1; begin += chunk) {
    const int64_t end = std::min(n - 1, begin + chunk);
    std::vector<int32_t> wanted(end - begin);
    for (int64_t i = 0; i < end - begin; ++i) wanted[i] = static_cast<int32_t>(i);
    RETURN_IF_ERROR(Step(tokens, begin, end, wanted, blocks, logits));
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
