#include "core/tokenizer/incremental_decoder.h"

#include "core/status.h"

namespace gqa {

absl::StatusOr<std::string> IncrementalDecoder::Add(int32_t id) {
  std::string bytes;
  DecodeState state = state_;
  RETURN_IF_ERROR(tokenizer_->DecodeAppend(id, options_, &state, &bytes));
  state_ = state;
  std::string delta;
  utf8_.Append(bytes, &delta);
  return delta;
}

std::string IncrementalDecoder::Finish() {
  std::string delta;
  utf8_.Finish(&delta);
  state_ = DecodeState();
  return delta;
}

}  // namespace gqa
