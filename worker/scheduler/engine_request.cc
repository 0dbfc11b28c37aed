#include "worker/scheduler/engine_request.h"

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {
namespace {

absl::Status CheckIds(const std::vector<int32_t>& ids, absl::string_view field, int64_t vocab) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] = ", ids[i],
                                                     " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEngineRequest(const EngineRequest& request, const ModelConfig& config) {
  if (request.prompt_ids.empty()) {
    return absl::InvalidArgumentError("prompt_token_ids is empty; give at least one token");
  }
  RETURN_IF_ERROR(CheckIds(request.prompt_ids, "prompt_token_ids", config.vocab_size));
  RETURN_IF_ERROR(CheckIds(request.output_ids, "output_token_ids", config.vocab_size));
  RETURN_IF_ERROR(CheckIds(request.stop_ids, "stop_token_ids", config.vocab_size));
  const int64_t prompt = static_cast<int64_t>(request.prompt_ids.size());
  const int64_t outputs = static_cast<int64_t>(request.output_ids.size());
  if (request.max_new_tokens < 1 || request.max_new_tokens <= outputs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_new_tokens = ", request.max_new_tokens, " must be at least 1 and more than the ",
        outputs, " output_token_ids already generated"));
  }
  if (!request.kv_policy.TokenBound().has_value() &&
      prompt + request.max_new_tokens > config.context_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt of ", prompt, " tokens + max_new_tokens = ", request.max_new_tokens,
        " exceeds the model's trained context of ", config.context_tokens,
        " tokens; shorten the prompt, lower max_new_tokens, or use a bounded kv_policy"));
  }
  if (request.num_top_logprobs < 0 || request.num_top_logprobs > 20) {
    return absl::InvalidArgumentError(absl::StrCat("top_logprobs = ", request.num_top_logprobs,
                                                   " must be in [0, 20]"));
  }
  return ValidateSamplingParams(request.sampling);
}

}  // namespace gqa
