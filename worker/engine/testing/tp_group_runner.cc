#include "worker/engine/testing/tp_group_runner.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/step_builder.h"
#include "worker/engine/testing/device_like_backend.h"
#include "worker/engine/tp_follower.h"
#include "worker/kv/kv_cache_storage.h"
#include "worker/parallel/gloo/thread_group.h"

namespace gqa {
namespace {

// Bytes of one block summed over the layer views' K and V pools.
int64_t MeasuredBytesPerBlock(const KvCacheStorage& storage) {
  int64_t bytes = 0;
  for (const PagedKvView& view : storage.layer_views()) {
    bytes += 2 * view.num_kv_heads * view.block_size * view.head_dim * DTypeSize(view.dtype);
  }
  return bytes;
}

// Logits of every position of `tokens` in one step, from a fresh cache.
std::vector<float> AllLogits(Model& model, KvCacheStorage& storage,
                             const std::vector<int32_t>& tokens) {
  KvCacheManager kv(KvManagerOptionsFor(model, storage, /*prefix_caching=*/false));
  std::unique_ptr<SequenceKv> seq =
      kv.Begin(KvPolicy::Full(), "", tokens, static_cast<int64_t>(tokens.size()));
  std::vector<KvBlockCopy> copies;
  auto reserved = kv.Reserve(*seq, tokens, copies);
  EXPECT_TRUE(reserved.ok() && *reserved);
  std::vector<int32_t> offsets(tokens.size());
  for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<int32_t>(i);
  const StepSequence step{seq.get(), tokens, offsets};
  ForwardBatch batch;
  BuildForwardBatch({&step, 1}, storage.block_size(), model.config().num_layers,
                    model.policy_kv_heads(), batch);
  std::vector<float> logits;
  absl::Status status = model.Forward(batch, storage.layer_views(), logits);
  EXPECT_TRUE(status.ok()) << status;
  kv.Release(*seq);
  return logits;
}

RankRun RunRank(const SourceFactory& make_source, int tp, int rank, Communicator* comm,
                const std::vector<int32_t>& prompt, int max_new_tokens, const KvPolicy& policy,
                bool device_like) {
  RankRun run;
  std::unique_ptr<Backend> backend = MakeCpuBackend({.num_threads = 1});
  if (device_like) backend = MakeDeviceLikeBackend(std::move(backend));
  std::unique_ptr<TensorSource> source = make_source();
  const ModelConfig config = source->config();
  auto plan = ShardPlan::Make(config, tp, rank);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return run;
  auto model = Model::Create(std::move(source), *plan, backend.get(), comm);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return run;
  auto storage = KvCacheStorage::Create(backend.get(), config, *plan, {DType::kF32, 16, 8 << 20});
  EXPECT_TRUE(storage.ok()) << storage.status();
  if (!storage.ok()) return run;
  run.kv_bytes_per_block = MeasuredBytesPerBlock(**storage);
  EXPECT_EQ(run.kv_bytes_per_block, (*storage)->bytes_per_block());
  run.kv_heads = plan->num_kv_heads;
  if (rank > 0) {
    absl::Status followed = RunFollower(**model, **storage, *comm);
    EXPECT_TRUE(followed.ok()) << followed;
    run.allreduce_ns = (*model)->allreduce_ns();
    return run;
  }
  OfflineGenerator generator(model->get(), storage->get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = prompt;
  request.max_new_tokens = max_new_tokens;
  request.sampling.temperature = 0;
  request.kv_policy = policy;
  auto result = generator.Generate(request, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return run;
  run.output_ids = result->output_ids;
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), run.output_ids.begin(), run.output_ids.end() - 1);
  run.logits = AllLogits(**model, **storage, all);
  run.allreduce_ns = (*model)->allreduce_ns();
  absl::Status ended = (*model)->EndGroup();
  EXPECT_TRUE(ended.ok()) << ended;
  return run;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return worst;
}

// The gap between the best and second-best logit of the row that chose
// token `step` of the output (how near a tie the greedy choice was).
double TopGap(const std::vector<float>& logits, int64_t vocab, int64_t row) {
  std::vector<float> r(logits.begin() + row * vocab, logits.begin() + (row + 1) * vocab);
  std::partial_sort(r.begin(), r.begin() + 2, r.end(), std::greater<float>());
  return r[0] - r[1];
}

}  // namespace

// Every rank of a tp group on its own thread; tp 1 runs without a communicator.
std::vector<RankRun> RunGroup(const SourceFactory& make_source, int tp,
                              const std::vector<int32_t>& prompt, int max_new_tokens,
                              const KvPolicy& policy, bool device_like) {
  std::vector<RankRun> runs(tp);
  if (tp == 1) {
    runs[0] = RunRank(make_source, 1, 0, nullptr, prompt, max_new_tokens, policy, device_like);
    return runs;
  }
  const absl::Status group =
      RunThreadGroup(tp, std::chrono::milliseconds(60000), [&](int rank, Communicator* comm) {
        runs[rank] =
            RunRank(make_source, tp, rank, comm, prompt, max_new_tokens, policy, device_like);
      });
  EXPECT_TRUE(group.ok()) << group;
  return runs;
}

// Checks a tp run against the tp=1 run: KV bytes per block = tp1 /
// min(tp, kv_heads) on every rank; the same greedy tokens as tp=1, except
// that a divergence is accepted (and reported) only after a near-tie, where
// tp=1's top-2 logit gap is within twice the logit difference measured; and
// logits within `tolerance` over every position up to the divergence.
// Returns the index of the first differing output token (size: none).
size_t ExpectMatches(const std::vector<RankRun>& tp1, const std::vector<RankRun>& group,
                     int64_t kv_heads, int64_t vocab, size_t prompt_len, double tolerance) {
  const int tp = static_cast<int>(group.size());
  const RankRun& base = tp1[0];
  const RankRun& lead = group[0];
  for (int rank = 0; rank < tp; ++rank) {
    const RankRun& run = group[rank];
    EXPECT_EQ(run.kv_bytes_per_block * std::min<int64_t>(tp, kv_heads), base.kv_bytes_per_block)
        << "rank " << rank;
    EXPECT_EQ(run.kv_heads, kv_heads / std::min<int64_t>(tp, kv_heads));
    EXPECT_GT(run.allreduce_ns, 0);
  }
  EXPECT_EQ(lead.output_ids.size(), base.output_ids.size());
  size_t diverge = 0;
  while (diverge < base.output_ids.size() && diverge < lead.output_ids.size() &&
         base.output_ids[diverge] == lead.output_ids[diverge]) {
    ++diverge;
  }
  // Rows [0, prompt_len + diverge) see the same tokens in both runs.
  const size_t rows = std::min(prompt_len + diverge, base.logits.size() / vocab);
  const std::vector<float> a(base.logits.begin(), base.logits.begin() + rows * vocab);
  const std::vector<float> b(lead.logits.begin(), lead.logits.begin() + rows * vocab);
  const double worst = MaxAbsDiff(a, b);
  std::cout << "tp=" << tp << " max |logit(tp) - logit(tp=1)| = " << worst << " over "
            << a.size() << " logits (" << rows << " positions); tolerance " << tolerance << "\n";
  ::testing::Test::RecordProperty(absl::StrCat("max_abs_logit_diff_tp", tp), std::to_string(worst));
  EXPECT_LE(worst, tolerance);
  if (diverge < base.output_ids.size()) {
    const double gap = TopGap(base.logits, vocab, static_cast<int64_t>(prompt_len + diverge - 1));
    std::cout << "tp=" << tp << " diverges from tp=1 at output token " << diverge << " ("
              << lead.output_ids[diverge] << " vs " << base.output_ids[diverge]
              << "): a near-tie, tp=1's top-2 logit gap there is " << gap << "\n";
    ::testing::Test::RecordProperty(absl::StrCat("diverged_at_tp", tp), std::to_string(diverge));
    EXPECT_LE(gap, 2 * worst) << "tp=" << tp << " diverges at output token " << diverge
                              << " where tp=1's choice was not a near-tie";
  }
  return diverge;
}

// 8 query heads, 2 KV heads; MLP 128 = 4 blocks of 32 and vocabulary 96 so
// that tp 4 passes the divisibility rules.

}  // namespace gqa
