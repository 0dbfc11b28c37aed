#include "worker/scheduler/scheduler.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/kv_size.h"
#include "core/log.h"
#include "core/status.h"
#include "worker/engine/step_builder.h"
#include "worker/kv/kv_block_transfer.h"

namespace gqa {

struct Scheduler::Sequence {
  std::unique_ptr<EngineRequest> request;
  std::shared_ptr<SequenceSink> sink;
  std::unique_ptr<SequenceKv> kv;  // null while waiting
  std::vector<int32_t> tokens;     // prompt + outputs: what the cache must hold
  int64_t arrival = 0;             // FCFS order
  int64_t arrival_ns = 0;
  int64_t first_admit_ns = -1;
  int64_t cached_tokens = -1;      // prefix-cache hit of the first admission
  int64_t preemptions = 0;
  // Swap: kStored once its blocks went to the tier, kLoading while they come
  // back, kLoaded when they are here (in `swapped_in`) waiting for room.
  enum class Swap { kNone, kStored, kLoading, kLoaded } swap = Swap::kNone;
  std::string swap_key;
  std::vector<std::string> swapped_in;
  int64_t evicted_before = 0;      // evictions of incarnations before a preemption
  int64_t peak_kv_bytes = 0;
  // The current step: tokens [step_begin, step_begin + step_count).
  int64_t step_begin = 0;
  int64_t step_count = 0;

  int64_t num_outputs() const {
    return static_cast<int64_t>(tokens.size() - request->prompt_ids.size());
  }
  bool Precedes(const Sequence& other) const {
    if (request->priority != other.request->priority) {
      return request->priority > other.request->priority;
    }
    return arrival < other.arrival;
  }
};

namespace {

bool Contains(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

Scheduler::Scheduler(Model* model, KvCacheStorage* storage, Env* env,
                     const SchedulerOptions& options)
    : model_(model),
      storage_(storage),
      env_(env),
      options_(options),
      kv_([&] {
        KvCacheManagerOptions kv = KvManagerOptionsFor(*model, *storage, options.prefix_caching);
        kv.record_cache_events = options.record_cache_events;
        return kv;
      }()) {}

Scheduler::~Scheduler() = default;

void Scheduler::Enqueue(SequencePtr seq) {
  auto it = std::find_if(waiting_.begin(), waiting_.end(),
                         [&](const SequencePtr& other) { return seq->Precedes(*other); });
  waiting_.insert(it, std::move(seq));
}

absl::Status Scheduler::Add(std::unique_ptr<EngineRequest> request,
                            std::shared_ptr<SequenceSink> sink) {
  if (static_cast<int64_t>(waiting_.size()) >= options_.max_waiting) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the worker's queue is full (", options_.max_waiting, " waiting requests); retry later"));
  }
  auto same_id = [&](const SequencePtr& seq) { return seq->request->id == request->id; };
  if (std::any_of(waiting_.begin(), waiting_.end(), same_id) ||
      std::any_of(running_.begin(), running_.end(), same_id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("request id '", request->id, "' is already running on this worker"));
  }
  auto seq = std::make_unique<Sequence>();
  seq->tokens = request->prompt_ids;
  seq->tokens.insert(seq->tokens.end(), request->output_ids.begin(), request->output_ids.end());
  seq->request = std::move(request);
  seq->sink = std::move(sink);
  seq->arrival = next_arrival_++;
  seq->arrival_ns = env_->NowNanos();
  Enqueue(std::move(seq));
  return absl::OkStatus();
}

void Scheduler::Release(Sequence& seq) {
  if (seq.swap != Sequence::Swap::kNone) {
    options_.swap_tier->Discard(seq.request->tenant, seq.swap_key);
    seq.swap = Sequence::Swap::kNone;
    seq.swapped_in.clear();
  }
  if (seq.kv == nullptr) return;
  seq.evicted_before += seq.kv->evicted_tokens();
  kv_.Release(*seq.kv);
  seq.kv.reset();
}

void Scheduler::Finish(SequencePtr seq, EngineFinish how, absl::Status error) {
  Release(*seq);
  SequenceSummary summary;
  summary.finish = how;
  summary.error = std::move(error);
  summary.prompt_tokens = static_cast<int64_t>(seq->request->prompt_ids.size());
  summary.cached_tokens = std::max<int64_t>(0, seq->cached_tokens);
  summary.generated_tokens = seq->num_outputs();
  summary.evicted_tokens = seq->evicted_before;
  summary.peak_kv_bytes = seq->peak_kv_bytes;
  summary.preemptions = seq->preemptions;
  summary.queue_ns = seq->first_admit_ns >= 0 ? seq->first_admit_ns - seq->arrival_ns
                                               : env_->NowNanos() - seq->arrival_ns;
  totals_.evicted_tokens_total += seq->evicted_before;
  ++totals_.finished_total;
  seq->sink->OnFinish(summary);
}

bool Scheduler::Cancel(const std::string& id) {
  auto same_id = [&](const SequencePtr& seq) { return seq->request->id == id; };
  if (auto it = std::find_if(waiting_.begin(), waiting_.end(), same_id); it != waiting_.end()) {
    SequencePtr seq = std::move(*it);
    waiting_.erase(it);
    Finish(std::move(seq), EngineFinish::kCancelled);
    return true;
  }
  if (auto it = std::find_if(running_.begin(), running_.end(), same_id); it != running_.end()) {
    SequencePtr seq = std::move(*it);
    running_.erase(it);
    Finish(std::move(seq), EngineFinish::kCancelled);
    return true;
  }
  return false;
}

void Scheduler::FailAll(const absl::Status& error) {
  std::vector<SequencePtr> all;
  for (SequencePtr& seq : running_) all.push_back(std::move(seq));
  for (SequencePtr& seq : waiting_) all.push_back(std::move(seq));
  running_.clear();
  waiting_.clear();
  for (SequencePtr& seq : all) Finish(std::move(seq), EngineFinish::kError, error);
}

void Scheduler::ExpireDeadlines() {
  const int64_t now = env_->NowNanos();
  auto expired = [&](const SequencePtr& seq) {
    return seq->request->deadline_ns.has_value() && *seq->request->deadline_ns <= now;
  };
  for (size_t i = 0; i < running_.size();) {
    if (!expired(running_[i])) {
      ++i;
      continue;
    }
    SequencePtr seq = std::move(running_[i]);
    running_.erase(running_.begin() + i);
    Finish(std::move(seq), EngineFinish::kDeadline);
  }
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (!expired(*it)) {
      ++it;
      continue;
    }
    SequencePtr seq = std::move(*it);
    it = waiting_.erase(it);
    Finish(std::move(seq), EngineFinish::kDeadline);
  }
}

void Scheduler::Preempt(Sequence& seq) {
  ++seq.preemptions;
  ++totals_.preemptions_total;
  seq.step_count = 0;
  if (!SwapOut(seq)) Release(seq);
}

bool Scheduler::SwapOut(Sequence& seq) {
  // NOTE: a tensor-parallel group recomputes instead: the followers' blocks
  // (their KV heads) would have to be exported and restored with these.
  if (options_.swap_tier == nullptr || model_->plan().tp > 1 || seq.kv == nullptr ||
      seq.kv->block_table().empty()) {
    return false;
  }
  const std::vector<int32_t>& table = seq.kv->block_table();
  std::vector<std::string> payloads(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const absl::Status exported = ExportKvBlock(storage_->layer_views(), table[i], &payloads[i]);
    if (!exported.ok()) {
      LOG(WARNING) << "swap-out of request_id=" << seq.request->id
                   << " failed (recomputing instead): " << exported;
      return false;
    }
  }
  seq.swap_key = absl::StrCat(seq.arrival, ".", seq.preemptions);
  kv_.SwapOut(*seq.kv);
  options_.swap_tier->Store(seq.request->tenant, seq.swap_key, std::move(payloads));
  seq.swap = Sequence::Swap::kStored;
  ++totals_.swap_outs_total;
  return true;
}

Scheduler::Admission Scheduler::SwapIn(Sequence& seq, int64_t count) {
  SwapTier& tier = *options_.swap_tier;
  const int64_t needed = kv_.BlocksNeededToSwapIn(*seq.kv, count);
  auto fall_back = [&](const absl::Status& why) {
    LOG(WARNING) << "swap-in of request_id=" << seq.request->id
                 << " failed (recomputing instead): " << why;
    ++totals_.swap_fallbacks_total;
    Release(seq);  // discards the stored blocks and the sequence's KV state
    return Admission::kNotNow;
  };
  if (seq.swap == Sequence::Swap::kStored) {
    if (kv_.pool().num_free_blocks() < needed) return Admission::kNotNow;
    tier.Load(seq.request->tenant, seq.swap_key, seq.kv->swapped_blocks());
    seq.swap = Sequence::Swap::kLoading;
  }
  if (seq.swap == Sequence::Swap::kLoading) {
    std::optional<absl::StatusOr<std::vector<std::string>>> loaded = tier.TakeLoaded(seq.swap_key);
    if (!loaded.has_value()) return Admission::kNotNow;
    if (!loaded->ok()) return fall_back(loaded->status());
    if (static_cast<int64_t>((*loaded)->size()) != seq.kv->swapped_blocks()) {
      return fall_back(absl::DataLossError(absl::StrCat(
          "the tier returned ", (*loaded)->size(), " blocks of ", seq.kv->swapped_blocks())));
    }
    seq.swapped_in = **std::move(loaded);
    seq.swap = Sequence::Swap::kLoaded;
  }
  if (kv_.pool().num_free_blocks() < needed) return Admission::kNotNow;
  const std::vector<PagedKvView>& views = storage_->layer_views();
  const bool restored = kv_.SwapIn(*seq.kv, [&](int32_t block, size_t index) {
    return ImportKvBlock(views, block, seq.swapped_in[index]).ok();
  });
  if (!restored) return fall_back(absl::DataLossError("a swapped block does not fit the cache"));
  tier.Discard(seq.request->tenant, seq.swap_key);
  seq.swap = Sequence::Swap::kNone;
  seq.swapped_in.clear();
  ++totals_.swap_ins_total;
  return Admission::kAdmitted;
}

bool Scheduler::waiting_for_swap_in() const {
  return running_.empty() && !waiting_.empty() &&
         waiting_.front()->swap == Sequence::Swap::kLoading;
}

bool Scheduler::PreemptFor(const Sequence& seq) {
  // The last in scheduling order (lowest priority, latest arrival) goes first.
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    if (it->get() == &seq) return false;
    if ((*it)->kv == nullptr) continue;
    SequencePtr victim = std::move(*it);
    running_.erase(std::next(it).base());
    Preempt(*victim);
    Enqueue(std::move(victim));
    return true;
  }
  return false;
}

Scheduler::Admission Scheduler::Admit(Sequence& seq, int64_t budget) {
  const KvPolicy& policy = seq.request->kv_policy;
  const int64_t bs = kv_.options().block_size;
  auto step_count = [&] {
    const int64_t remaining = static_cast<int64_t>(seq.tokens.size()) - seq.kv->num_tokens();
    return std::min({remaining, budget, kv_.MaxStepTokens(*seq.kv)});
  };
  if (seq.kv != nullptr && seq.kv->swapped()) {
    const Admission swapped_in = SwapIn(seq, step_count());
    if (swapped_in != Admission::kAdmitted && seq.kv != nullptr) return swapped_in;
  }
  // A sequence whose blocks came back from the swap tier keeps them; any
  // other begins its KV now.
  const bool fresh = seq.kv == nullptr;
  int64_t footprint = 0;
  if (fresh) {
    const int64_t final_length =
        static_cast<int64_t>(seq.request->prompt_ids.size()) + seq.request->max_new_tokens;
    seq.kv = kv_.Begin(policy, seq.request->tenant, seq.tokens, final_length);
    // Admission against free blocks: the whole bounded footprint, or the
    // blocks the full cache needs for what is computed before generating.
    if (policy.TokenBound().has_value()) {
      footprint = SlotsPerSequence(policy, final_length, bs).value_or(0) / bs;
    } else {
      footprint = kv_.BlocksNeeded(*seq.kv, static_cast<int64_t>(seq.tokens.size()) -
                                                seq.kv->num_tokens() + 1);
    }
    if (footprint > kv_.pool().num_blocks()) {
      Release(seq);
      return Admission::kNever;
    }
  }
  const int64_t count = step_count();
  if (!fresh) footprint = kv_.BlocksNeeded(*seq.kv, count);
  auto not_now = [&] {
    if (fresh) Release(seq);
    return Admission::kNotNow;
  };
  if (kv_.pool().num_free_blocks() < footprint) return not_now();
  std::vector<KvBlockCopy> copies;
  absl::StatusOr<bool> reserved = kv_.Reserve(
      *seq.kv, absl::MakeConstSpan(seq.tokens).subspan(seq.kv->num_tokens(), count), copies);
  if (!reserved.ok() || !*reserved ||
      !model_->CopyKvBlocks(storage_->layer_views(), copies).ok()) {
    return not_now();
  }
  if (seq.first_admit_ns < 0) seq.first_admit_ns = env_->NowNanos();
  if (seq.cached_tokens < 0) seq.cached_tokens = seq.kv->reused_prefix_tokens();
  seq.step_begin = seq.kv->num_tokens();
  seq.step_count = count;
  return Admission::kAdmitted;
}

StepReport Scheduler::Step() {
  ExpireDeadlines();
  StepReport report;
  int64_t budget = options_.max_step_tokens;
  std::stable_sort(running_.begin(), running_.end(),
                   [](const SequencePtr& a, const SequencePtr& b) { return a->Precedes(*b); });
  // Running sequences first: decode tokens and unfinished prefills.
  for (size_t i = 0; i < running_.size();) {
    Sequence& seq = *running_[i];
    seq.step_count = 0;
    const int64_t remaining = static_cast<int64_t>(seq.tokens.size()) - seq.kv->num_tokens();
    const int64_t count = std::min({remaining, budget, kv_.MaxStepTokens(*seq.kv)});
    if (count <= 0) {
      ++i;
      continue;
    }
    std::vector<KvBlockCopy> copies;
    bool reserved = false;
    while (true) {
      absl::StatusOr<bool> ok = kv_.Reserve(
          *seq.kv, absl::MakeConstSpan(seq.tokens).subspan(seq.kv->num_tokens(), count), copies);
      if (!ok.ok()) {
        SequencePtr failed = std::move(running_[i]);
        running_.erase(running_.begin() + i);
        Finish(std::move(failed), EngineFinish::kError, ok.status());
        break;
      }
      if (*ok) {
        reserved = true;
        break;
      }
      if (!PreemptFor(seq)) break;
    }
    if (i >= running_.size() || running_[i].get() != &seq) continue;  // finished with an error
    if (!reserved) {  // nothing left to preempt but itself
      SequencePtr self = std::move(running_[i]);
      running_.erase(running_.begin() + i);
      Preempt(*self);
      Enqueue(std::move(self));
      continue;
    }
    if (!model_->CopyKvBlocks(storage_->layer_views(), copies).ok()) {
      SequencePtr failed = std::move(running_[i]);
      running_.erase(running_.begin() + i);
      Finish(std::move(failed), EngineFinish::kError, absl::InternalError("KV block copy failed"));
      continue;
    }
    seq.step_begin = seq.kv->num_tokens();
    seq.step_count = count;
    budget -= count;
    ++i;
  }
  // Then new and preempted sequences, in order, while blocks and budget last.
  while (budget > 0 && !waiting_.empty() &&
         static_cast<int64_t>(running_.size()) < options_.max_running) {
    const Admission admission = Admit(*waiting_.front(), budget);
    if (admission == Admission::kNever) {
      SequencePtr seq = std::move(waiting_.front());
      waiting_.pop_front();
      const int64_t length = static_cast<int64_t>(seq->tokens.size());
      Finish(std::move(seq), EngineFinish::kError,
             absl::ResourceExhaustedError(absl::StrCat(
                 "a sequence of ", length, " tokens needs more KV blocks than this worker's whole "
                 "pool of ", kv_.pool().num_blocks(), "; shorten it, use a bounded kv_policy, or "
                 "raise --kv-bytes")));
      continue;
    }
    if (admission == Admission::kNotNow) break;
    budget -= waiting_.front()->step_count;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }

  std::vector<Sequence*> scheduled;
  std::vector<StepSequence> steps;
  for (const SequencePtr& seq : running_) {
    if (seq->step_count == 0) continue;
    scheduled.push_back(seq.get());
    StepSequence step;
    step.kv = seq->kv.get();
    step.token_ids = absl::MakeConstSpan(seq->tokens).subspan(seq->step_begin, seq->step_count);
    if (seq->step_begin + seq->step_count == static_cast<int64_t>(seq->tokens.size())) {
      step.logit_offsets.push_back(static_cast<int32_t>(seq->step_count - 1));
    }
    report.num_tokens += seq->step_count;
    report.num_decode_tokens += seq->num_outputs() > 0 && seq->step_count == 1 ? 1 : 0;
    steps.push_back(std::move(step));
  }
  report.num_sequences = static_cast<int64_t>(scheduled.size());
  if (scheduled.empty()) return report;

  const ModelConfig& config = model_->config();
  BuildForwardBatch(steps, storage_->block_size(), config.num_layers, model_->policy_kv_heads(),
                    batch_);
  const int64_t start_ns = env_->NowNanos();
  absl::Status status = model_->Forward(batch_, storage_->layer_views(), logits_, &column_sums_);
  report.forward_ns = env_->NowNanos() - start_ns;
  ++totals_.steps_total;

  std::vector<std::pair<Sequence*, EngineFinish>> done;
  int64_t logit_row = 0;
  for (size_t s = 0; s < scheduled.size(); ++s) {
    Sequence& seq = *scheduled[s];
    if (!status.ok()) continue;
    const StepColumnSums sums = ColumnSumsOf(batch_, steps, static_cast<int64_t>(s), column_sums_);
    kv_.Commit(*seq.kv, &sums);
    seq.peak_kv_bytes = std::max(seq.peak_kv_bytes, kv_.Usage(*seq.kv).allocated_bytes);
    if (steps[s].logit_offsets.empty()) continue;
    const std::optional<EngineFinish> finish = Sample(
        seq, absl::MakeConstSpan(logits_).subspan(logit_row * config.vocab_size, config.vocab_size));
    if (finish.has_value()) done.emplace_back(&seq, *finish);
    ++logit_row;
  }
  // Finished (or, after a failed step, every scheduled) sequences leave the batch.
  for (size_t i = 0; i < running_.size();) {
    Sequence* seq = running_[i].get();
    const bool failed = !status.ok() && std::find(scheduled.begin(), scheduled.end(), seq) != scheduled.end();
    auto it = std::find_if(done.begin(), done.end(), [&](const auto& d) { return d.first == seq; });
    if (!failed && it == done.end()) {
      ++i;
      continue;
    }
    SequencePtr owned = std::move(running_[i]);
    running_.erase(running_.begin() + i);
    if (failed) {
      Finish(std::move(owned), EngineFinish::kError, status);
    } else {
      Finish(std::move(owned), it->second);
    }
  }
  return report;
}

std::optional<EngineFinish> Scheduler::Sample(Sequence& seq, absl::Span<const float> logits) {
  const EngineRequest& request = *seq.request;
  const absl::Span<const int32_t> outputs =
      absl::MakeConstSpan(seq.tokens).subspan(request.prompt_ids.size());
  SequenceUpdate update;
  update.output_idx = seq.num_outputs();
  update.token = SampleToken(logits, request.sampling, request.prompt_ids, outputs,
                             update.output_idx, request.num_top_logprobs);
  seq.tokens.push_back(update.token.token_id);
  seq.sink->OnToken(update);
  if (Contains(request.stop_ids, update.token.token_id)) return EngineFinish::kStopToken;
  if (Contains(request.eos_ids, update.token.token_id)) return EngineFinish::kEos;
  if (seq.num_outputs() >= request.max_new_tokens) return EngineFinish::kLength;
  return std::nullopt;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats stats = totals_;
  stats.running = static_cast<int64_t>(running_.size());
  stats.waiting = static_cast<int64_t>(waiting_.size());
  stats.kv_blocks_used = kv_.pool().num_used_blocks();
  stats.kv_blocks_free = kv_.pool().num_free_blocks();
  for (const SequencePtr& seq : running_) {
    stats.outstanding_tokens += seq->request->max_new_tokens - seq->num_outputs();
  }
  for (const SequencePtr& seq : waiting_) {
    stats.outstanding_tokens += seq->request->max_new_tokens - seq->num_outputs();
  }
  return stats;
}

}  // namespace gqa
