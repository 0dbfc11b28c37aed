// Test-only: a tensor-parallel group of ranks as threads of the test,
// joined by Gloo on loopback, and its comparison with tp=1. Rank 0 runs the
// offline generator (greedy), then scores the whole sequence in one step;
// its Model broadcasts each StepPlan and the other ranks execute them in
// RunFollower, exactly as gqa-worker's ranks do. Used by
// tp_forward_test.cc (tiny models) and tp_forward_model_test.cc.
#ifndef GQA_WORKER_ENGINE_TESTING_TP_GROUP_RUNNER_H_
#define GQA_WORKER_ENGINE_TESTING_TP_GROUP_RUNNER_H_

#include <functional>
#include <memory>
#include <vector>

#include "core/kv_options.h"
#include "worker/engine/tensor_source.h"

namespace gqa {

using SourceFactory = std::function<std::unique_ptr<TensorSource>()>;

struct RankRun {
  std::vector<int32_t> output_ids;  // rank 0 only
  std::vector<float> logits;        // rank 0: [prompt + output - 1 positions, vocab]
  int64_t kv_bytes_per_block = 0;   // from the storage's layer views
  int64_t kv_heads = 0;
  int64_t allreduce_ns = 0;
};

// Every rank of a tp group on its own thread (one CPU thread each); tp 1
// runs without a communicator. Greedy `max_new_tokens` after `prompt`, the
// cache kept by `policy` (the logits are always a full-cache scoring).
// `device_like`: each rank's CPU backend behind a DeviceLikeBackend (the
// engine's device code path, its all-reduce staged through the host).
std::vector<RankRun> RunGroup(const SourceFactory& make_source, int tp,
                              const std::vector<int32_t>& prompt, int max_new_tokens,
                              const KvPolicy& policy = KvPolicy::Full(), bool device_like = false);

// Checks a tp run against the tp=1 run with gtest expectations: KV bytes per
// block = tp1 / min(tp, kv_heads) on every rank; the same greedy tokens as
// tp=1, except that a divergence is accepted (and reported) only after a
// near-tie, where tp=1's top-2 logit gap is within twice the logit
// difference measured; logits within `tolerance` over every position up to
// the divergence. Returns the index of the first differing output token
// (the number of tokens when none differs).
size_t ExpectMatches(const std::vector<RankRun>& tp1, const std::vector<RankRun>& group,
                     int64_t kv_heads, int64_t vocab, size_t prompt_len, double tolerance);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TESTING_TP_GROUP_RUNNER_H_
