#include "router/output_assembler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {

absl::StatusOr<OutputAssembler> OutputAssembler::Create(const Tokenizer* tokenizer,
                                                        const PreparedRequest& request) {
  ASSIGN_OR_RETURN(StopStringMatcher stops, StopStringMatcher::Create(request.stop_strings));
  return OutputAssembler(tokenizer, request, std::move(stops));
}

OutputAssembler::OutputAssembler(const Tokenizer* tokenizer, const PreparedRequest& request,
                                 StopStringMatcher stops)
    : tokenizer_(tokenizer),
      request_(&request),
      decoder_(tokenizer, DecodeOptions{.skip_special = true}),
      stops_(std::move(stops)) {
  usage_.set_num_prompt_tokens(static_cast<int64_t>(request.prompt_ids.size()));
}

void OutputAssembler::Start(v1::GenerateResponse* out) const {
  out->set_request_id(request_->request_id);
  if (request_->echo_text.has_value()) {
    out->set_text(*request_->echo_text + out->text());
    out->mutable_prompt_token_ids()->Add(request_->prompt_ids.begin(),
                                         request_->prompt_ids.end());
  }
}

absl::StatusOr<bool> OutputAssembler::Add(const v1::SubmitResponse& message,
                                          v1::GenerateResponse* out) {
  if (stopped_) return true;
  for (int i = 0; i < message.token_ids_size(); ++i) {
    const int32_t id = message.token_ids(i);
    absl::StatusOr<std::string> piece = decoder_.Add(id);
    if (!piece.ok()) {
      return absl::InternalError(absl::StrCat("the worker sent an undecodable token: ",
                                              piece.status().message()));
    }
    output_ids_.push_back(id);
    out->add_token_ids(id);
    if (i < message.logprobs_size()) {
      v1::TokenLogprob* logprob = out->add_logprobs();
      *logprob = message.logprobs(i);
      // Workers send no pieces; clients hold no tokenizer (common.proto).
      for (v1::TopLogprob& top : *logprob->mutable_top_logprobs()) {
        absl::StatusOr<absl::string_view> alternative = tokenizer_->TokenPiece(top.token_id());
        if (alternative.ok()) top.set_piece(std::string(*alternative));
      }
    }
    StopStringMatcher::Result shown = stops_.Add(*piece);
    out->mutable_text()->append(shown.released);
    if (shown.stopped) {
      stopped_ = true;
      matched_ = shown.matched;
      return true;
    }
  }
  return false;
}

void OutputAssembler::AddAttemptUsage(const v1::Usage& usage) {
  usage_.set_num_cached_tokens(usage_.num_cached_tokens() + usage.num_cached_tokens());
  usage_.set_num_evicted_tokens(usage_.num_evicted_tokens() + usage.num_evicted_tokens());
  usage_.set_peak_kv_bytes(std::max(usage_.peak_kv_bytes(), usage.peak_kv_bytes()));
  usage_.set_num_preemptions(usage_.num_preemptions() + usage.num_preemptions());
}

void OutputAssembler::Finish(v1::FinishReason worker_finish, v1::GenerateResponse* out) {
  if (!stopped_) {
    StopStringMatcher::Result last = stops_.Add(decoder_.Finish());
    out->mutable_text()->append(last.released);
    if (last.stopped) {
      stopped_ = true;
      matched_ = last.matched;
    } else {
      out->mutable_text()->append(stops_.Flush());
    }
  }
  if (stopped_) {
    out->set_finish_reason(v1::FINISH_REASON_STOP_STRING);
    out->set_matched_stop_string(matched_);
  } else {
    out->set_finish_reason(worker_finish);
  }
  usage_.set_num_generated_tokens(static_cast<int64_t>(output_ids_.size()));
  *out->mutable_usage() = usage_;
  out->set_seed(request_->seed);
}

}  // namespace gqa
