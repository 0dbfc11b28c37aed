// RequestRecord: what gqa-loadgen saw of one request, on the client's
// monotonic clock (nanoseconds since the run's start): when it was due to
// leave, when it left, when each streamed message arrived and how it ended.
// Every metric (TTFT, TPOT, ITL, end-to-end, goodput) is computed from these
// records after the run. Plain struct.
#ifndef GQA_TOOLS_GQA_LOADGEN_REQUEST_RECORD_H_
#define GQA_TOOLS_GQA_LOADGEN_REQUEST_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gqa::loadgen {

// One streamed message that carried tokens.
struct TokenChunk {
  int64_t arrival_ns = 0;  // since the run's start
  int32_t num_tokens = 0;  // >= 1
};

struct RequestRecord {
  int64_t index = 0;
  bool warmup = false;  // excluded from every result
  // The open loop's intended send time; equal to sent_ns in closed loop.
  int64_t scheduled_ns = 0;
  int64_t sent_ns = 0;
  int64_t end_ns = 0;  // the call's completion (status received)
  std::vector<TokenChunk> chunks;
  // The call's gRPC status code (0 = OK) and, for errors, its message.
  int status_code = 0;
  std::string status_message;
  std::string finish_reason;  // e.g. "LENGTH"; empty when none arrived
  int32_t prefix_group = -1;
  // From the final message's usage (0 when it did not arrive).
  int64_t num_prompt_tokens = 0;
  int64_t num_cached_tokens = 0;
  int64_t num_evicted_tokens = 0;
  int64_t peak_kv_bytes = 0;
  // Counted from the stream.
  int64_t num_output_tokens = 0;
  // Kept only when asked (quality mode).
  std::vector<int32_t> output_token_ids;

  bool ok() const { return status_code == 0; }
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_REQUEST_RECORD_H_
