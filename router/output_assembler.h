// OutputAssembler: turns one sequence's worker token stream into the
// client's GenerateResponse stream: incremental detokenization (never a
// split UTF-8 character), stop strings (text that may start one is held
// back; on a match the text stops before it and the sequence must end), the
// echo prefix, and usage summed across failover attempts. It remembers every
// output token so a failover can resubmit prompt + output. One per sequence;
// thread-compatible.
#ifndef GQA_ROUTER_OUTPUT_ASSEMBLER_H_
#define GQA_ROUTER_OUTPUT_ASSEMBLER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/incremental_decoder.h"
#include "core/tokenizer/stop_strings.h"
#include "gqa/v1/inference.pb.h"
#include "gqa/v1/worker.pb.h"
#include "router/prepared_request.h"

namespace gqa {

class OutputAssembler {
 public:
  // `tokenizer` must outlive the assembler.
  static absl::StatusOr<OutputAssembler> Create(const Tokenizer* tokenizer,
                                                const PreparedRequest& request);

  // Appends a worker message's tokens (and their log-probabilities) to
  // `out`, with the text they complete. Returns true when a stop string
  // matched: `out` then ends with the token that completed it, later tokens
  // of the message are dropped, and the sequence is over (Finish next).
  // INTERNAL for a token id the tokenizer cannot decode (a worker bug).
  absl::StatusOr<bool> Add(const v1::SubmitResponse& message, v1::GenerateResponse* out);

  // Adds one attempt's worker usage (its final message) to the total.
  void AddAttemptUsage(const v1::Usage& usage);

  // The final message's fields: the rest of the held-back text, the finish
  // reason (FINISH_REASON_STOP_STRING after a stop-string match, otherwise
  // `worker_finish`), the matched stop string, usage and seed.
  void Finish(v1::FinishReason worker_finish, v1::GenerateResponse* out);

  // Fields of the first message: request_id, echo text and prompt ids.
  void Start(v1::GenerateResponse* out) const;

  const std::vector<int32_t>& output_ids() const { return output_ids_; }

 private:
  OutputAssembler(const Tokenizer* tokenizer, const PreparedRequest& request,
                  StopStringMatcher stops);

  const Tokenizer* tokenizer_;
  const PreparedRequest* request_;
  IncrementalDecoder decoder_;
  StopStringMatcher stops_;
  std::vector<int32_t> output_ids_;
  bool stopped_ = false;
  std::string matched_;
  v1::Usage usage_;
};

}  // namespace gqa

#endif  // GQA_ROUTER_OUTPUT_ASSEMBLER_H_
