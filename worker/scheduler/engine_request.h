// EngineRequest and SequenceSink: what the scheduler is asked to generate and
// where it reports what it generated. The gRPC service (or a test) builds the
// request, validated against the model by ValidateEngineRequest, and owns the
// sink. Plain types.
#ifndef GQA_WORKER_SCHEDULER_ENGINE_REQUEST_H_
#define GQA_WORKER_SCHEDULER_ENGINE_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/kv_options.h"
#include "core/model_config.h"
#include "worker/engine/sampler.h"
#include "worker/kv/kv_cache_manager.h"

namespace gqa {

enum class EngineFinish { kLength, kStopToken, kEos, kCancelled, kDeadline, kError };

struct EngineRequest {
  std::string id;                   // unique among the live requests of a worker
  std::string tenant;               // prefix-cache isolation
  std::vector<int32_t> prompt_ids;  // non-empty
  // Tokens already generated elsewhere (a resumed request): the scheduler
  // recomputes prompt + these and continues with output index size().
  std::vector<int32_t> output_ids;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;    // finish after emitting one of these
  std::vector<int32_t> eos_ids;     // the model's end tokens; empty with ignore_eos
  int64_t max_new_tokens = 16;      // counting output_ids
  int num_top_logprobs = 0;
  KvPolicy kv_policy;
  int32_t priority = 0;             // larger runs first; FCFS within a priority
  std::optional<int64_t> deadline_ns;  // Env::NowNanos() clock
};

// The scheduler's report of one step of one sequence (at most one token).
struct SequenceUpdate {
  SampledToken token;
  int64_t output_idx = 0;  // index of this token among the outputs
};

struct SequenceSummary {
  EngineFinish finish = EngineFinish::kLength;
  absl::Status error;      // with kError
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;     // prompt tokens from the prefix cache (first admission)
  int64_t generated_tokens = 0;  // output tokens, resumed ones included
  int64_t evicted_tokens = 0;
  int64_t peak_kv_bytes = 0;     // allocated bytes at the sequence's largest
  int64_t preemptions = 0;
  int64_t queue_ns = 0;          // arrival to first admission
};

// Receives a sequence's tokens and its end, on the engine thread: the
// implementation must not block (the gRPC stream buffers and coalesces).
class SequenceSink {
 public:
  virtual ~SequenceSink() = default;
  virtual void OnToken(const SequenceUpdate& update) = 0;
  // Called exactly once, last.
  virtual void OnFinish(const SequenceSummary& summary) = 0;
};

// INVALID_ARGUMENT naming the field and the limit: empty prompt, ids outside
// the vocabulary, max_new_tokens < 1 or (full policy) prompt + max beyond
// the trained context, bad sampling values, negative top logprobs.
absl::Status ValidateEngineRequest(const EngineRequest& request, const ModelConfig& config);

}  // namespace gqa

#endif  // GQA_WORKER_SCHEDULER_ENGINE_REQUEST_H_
