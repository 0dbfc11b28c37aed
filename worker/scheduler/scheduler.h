// Scheduler: iteration-level continuous batching on one engine thread
// (STYLE.md "Threading"). Each Step() builds one forward batch from the
// decode tokens of running sequences and prefill chunks of new or resumed
// ones under a token budget, runs it, samples, and reports to each
// sequence's sink. KV blocks come from a KvCacheManager; a sequence is
// admitted only when the blocks for its first chunk (its whole footprint,
// for a bounded policy) are free. When a running sequence cannot grow, the
// lowest-priority, most recently arrived one is preempted and requeued:
// with a SwapTier its blocks are exported and swapped out (its cache and
// policy state are kept, and it later continues exactly where it stopped,
// bounded policies included); without one, or when the swap is lost, it is
// recomputed from prompt + generated tokens. FCFS within a priority;
// cancellation and deadlines free everything at once.
// Thread-compatible: every call on the engine thread (EngineLoop wraps it).
#ifndef GQA_WORKER_SCHEDULER_SCHEDULER_H_
#define GQA_WORKER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/env.h"
#include "worker/engine/forward_batch.h"
#include "worker/engine/model.h"
#include "worker/kv/kv_cache_manager.h"
#include "worker/kv/kv_cache_storage.h"
#include "worker/scheduler/engine_request.h"
#include "worker/scheduler/swap_tier.h"

namespace gqa {

struct SchedulerOptions {
  int64_t max_step_tokens = 256;    // tokens per forward step (decode + prefill)
  int64_t max_running = 64;         // sequences in the running batch
  int64_t max_waiting = 1024;       // queued sequences before RESOURCE_EXHAUSTED
  bool prefix_caching = true;
  bool record_cache_events = false;  // for TakeCacheEvents (a worker that is watched)
  // Where preempted sequences swap out to (not owned; must outlive the
  // scheduler). Null: preemption recomputes.
  SwapTier* swap_tier = nullptr;
};

// Counters and gauges of the worker, for Load/Info and the metrics.
struct SchedulerStats {
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_free = 0;
  int64_t outstanding_tokens = 0;  // tokens the live sequences may still generate
  int64_t preemptions_total = 0;
  int64_t swap_outs_total = 0;       // preemptions that swapped the blocks out
  int64_t swap_ins_total = 0;        // swapped sequences restored from the tier
  int64_t swap_fallbacks_total = 0;  // swapped sequences recomputed (swap lost or failed)
  int64_t evicted_tokens_total = 0;
  int64_t steps_total = 0;
  int64_t finished_total = 0;
  bool draining = false;  // the engine takes no new sequences (set by its owner)
};

// What one step did, for metrics and tests.
struct StepReport {
  int64_t num_tokens = 0;        // in the forward batch
  int64_t num_sequences = 0;
  int64_t num_decode_tokens = 0;
  int64_t forward_ns = 0;
};

class Scheduler {
 public:
  Scheduler(Model* model, KvCacheStorage* storage, Env* env, const SchedulerOptions& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request (validate it first: ValidateEngineRequest).
  // RESOURCE_EXHAUSTED when the queue is full; ALREADY_EXISTS for a live id.
  absl::Status Add(std::unique_ptr<EngineRequest> request, std::shared_ptr<SequenceSink> sink);

  // Finishes the sequence with kCancelled and frees its blocks; false when
  // no live sequence has the id.
  bool Cancel(const std::string& id);
  // Finishes every sequence, running and waiting, with kError and `error`
  // (the engine cannot step again: a broken tensor-parallel group).
  void FailAll(const absl::Status& error);

  // One iteration; a step with nothing to run returns an empty report.
  // A failed forward pass finishes the step's sequences with kError.
  StepReport Step();

  bool idle() const { return running_.empty() && waiting_.empty(); }
  // True when nothing runs and the next sequence in line waits for its
  // blocks to come back from the swap tier (Step() does nothing until then).
  bool waiting_for_swap_in() const;
  SchedulerStats stats() const;
  const KvCacheManager& kv() const { return kv_; }
  // For installing prefix blocks fetched from the kvstore (engine thread).
  KvCacheManager& mutable_kv() { return kv_; }
  // Drops cached prefix blocks no live sequence uses (of `tenant`, or all
  // when empty); returns how many.
  int64_t ClearCache(absl::string_view tenant) { return kv_.ClearCache(tenant); }
  // Prefix blocks that left and entered the cache since the last call
  // (requires options.record_cache_events).
  void TakeCacheEvents(std::vector<BlockId>& removed, std::vector<BlockId>& stored) {
    kv_.TakeCacheEvents(removed, stored);
  }

 private:
  struct Sequence;
  using SequencePtr = std::unique_ptr<Sequence>;

  enum class Admission { kAdmitted, kNotNow, kNever };
  void ExpireDeadlines();
  // Begins `seq`'s KV and reserves its first chunk; kNever when its
  // footprint exceeds the whole pool.
  Admission Admit(Sequence& seq, int64_t budget);
  // Frees room for `seq` by preempting others; false when only `seq` itself
  // is left to preempt (it is then preempted by the caller).
  bool PreemptFor(const Sequence& seq);
  void Preempt(Sequence& seq);
  // Exports `seq`'s blocks to the swap tier and frees them; false (nothing
  // changed) without a tier or when a block cannot be exported.
  bool SwapOut(Sequence& seq);
  // Brings a swapped-out `seq` back: starts its load, waits for it (kNotNow)
  // and restores its blocks when enough are free; a failed load falls back
  // to recomputation (seq.kv is then null). kAdmitted: its blocks are back.
  Admission SwapIn(Sequence& seq, int64_t count);
  void Finish(SequencePtr seq, EngineFinish how, absl::Status error = absl::OkStatus());
  void Release(Sequence& seq);
  // Samples the sequence's next token and reports it; how it finished, if it did.
  std::optional<EngineFinish> Sample(Sequence& seq, absl::Span<const float> logits);
  // Inserts keeping (priority desc, arrival asc) order.
  void Enqueue(SequencePtr seq);

  Model* model_;
  KvCacheStorage* storage_;
  Env* env_;
  SchedulerOptions options_;
  KvCacheManager kv_;
  std::deque<SequencePtr> waiting_;
  std::vector<SequencePtr> running_;
  int64_t next_arrival_ = 0;
  SchedulerStats totals_;
  ForwardBatch batch_;
  std::vector<float> logits_, column_sums_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SCHEDULER_SCHEDULER_H_
