// Tensor-parallel forward passes vs tp=1: ranks as threads in one process,
// joined by Gloo on loopback. Rank 0 runs the offline generator (greedy),
// then scores the whole sequence in one step for the logit comparison; its
// Model broadcasts each StepPlan and the other ranks execute them in
// RunFollower, exactly as gqa-worker's ranks do.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/convert/gguf_convert.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/model_file.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/step_builder.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/engine/tp_follower.h"
#include "worker/kv/kv_cache_storage.h"
#include "worker/parallel/gloo/gloo_communicator.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

using SourceFactory = std::function<std::unique_ptr<TensorSource>()>;

struct RankRun {
  std::vector<int32_t> output_ids;
  std::vector<float> logits;      // [prompt + output - 1 positions, vocab]
  int64_t kv_bytes_per_block = 0;  // from the storage's layer views
  int64_t kv_heads = 0;
  int64_t allreduce_ns = 0;
};

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
                    model.plan().num_kv_heads, batch);
  std::vector<float> logits;
  absl::Status status = model.Forward(batch, storage.layer_views(), logits);
  EXPECT_TRUE(status.ok()) << status;
  kv.Release(*seq);
  return logits;
}

RankRun RunRank(const SourceFactory& make_source, int tp, int rank, Communicator* comm,
                const std::vector<int32_t>& prompt, int max_new_tokens) {
  RankRun run;
  auto backend = MakeCpuBackend({.num_threads = 1});
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

// Every rank of a tp group on its own thread; tp 1 runs without a communicator.
std::vector<RankRun> RunGroup(const SourceFactory& make_source, int tp,
                              const std::vector<int32_t>& prompt, int max_new_tokens) {
  std::vector<RankRun> runs(tp);
  if (tp == 1) {
    runs[0] = RunRank(make_source, 1, 0, nullptr, prompt, max_new_tokens);
    return runs;
  }
  auto server = TcpStoreServer::Start("127.0.0.1:0");
  EXPECT_TRUE(server.ok()) << server.status();
  std::vector<std::thread> threads;
  for (int rank = 0; rank < tp; ++rank) {
    threads.emplace_back([&, rank] {
      GlooOptions options;
      options.rank = rank;
      options.size = tp;
      options.store_address = absl::StrCat("127.0.0.1:", (*server)->port());
      options.host_store = false;
      options.timeout = std::chrono::milliseconds(60000);
      auto comm = GlooCommunicator::Create(options);
      ASSERT_TRUE(comm.ok()) << comm.status();
      runs[rank] = RunRank(make_source, tp, rank, comm->get(), prompt, max_new_tokens);
    });
  }
  for (std::thread& t : threads) t.join();
  return runs;
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
ModelConfig TinyGqa82() {
  ModelConfig c = TinyConfig(8, 2);
  c.intermediate_size = 128;
  c.vocab_size = 96;
  return c;
}

TEST(TpForwardTest, TinyGqaModelAtTp2AndTp4MatchesTp1) {
  const SourceFactory tiny = [] { return MakeTinyModel(TinyGqa82(), 7); };
  const std::vector<int32_t> prompt = {3, 17, 42, 8, 91, 5, 60, 23, 11, 2, 77, 30, 64, 9, 1, 50, 33};
  const std::vector<RankRun> tp1 = RunGroup(tiny, 1, prompt, 24);
  ASSERT_EQ(tp1[0].output_ids.size(), 24u);
  for (int tp : {2, 4}) {  // 4: each KV head replicated on 2 ranks
    const std::vector<RankRun> group = RunGroup(tiny, tp, prompt, 24);
    // F32 weights and activations: only the order of the sums differs.
    ExpectMatches(tp1, group, 2, 96, prompt.size(), 1e-4);
  }
}

TEST(TpForwardTest, TinyModelRefusesTpWithoutItsCommunicator) {
  auto backend = MakeCpuBackend({.num_threads = 1});
  auto source = MakeTinyModel(TinyGqa82(), 7);
  auto plan = ShardPlan::Make(source->config(), 2, 1);
  ASSERT_TRUE(plan.ok());
  auto model = Model::Create(std::move(source), *plan, backend.get(), nullptr);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("communicator"), std::string::npos);
}

const char* DefaultModelPath() {
  const char* path = std::getenv("GQA_DEFAULT_MODEL");
  return path != nullptr && Env::Default()->FileExists(path) ? path : nullptr;
}

// Fixed in-vocabulary ids (as in gguf_tensor_source_test).
const std::vector<int32_t> kFixedPrompt = {504, 3458, 282, 4649, 314};

// tp=3 vs tp=1 on the GGUF at `path`: `num_tokens` greedy tokens after `prompt`.
size_t CheckTp3(const std::string& path, const std::vector<int32_t>& prompt, int num_tokens,
                double tolerance) {
  const SourceFactory smol = [path]() -> std::unique_ptr<TensorSource> {
    auto source = OpenGgufTensorSource(Env::Default(), path);
    CHECK(source.ok()) << source.status();
    return std::move(*source);
  };
  const std::vector<RankRun> tp1 = RunGroup(smol, 1, prompt, num_tokens);
  EXPECT_EQ(tp1[0].output_ids.size(), static_cast<size_t>(num_tokens));
  const std::vector<RankRun> tp3 = RunGroup(smol, 3, prompt, num_tokens);
  return ExpectMatches(tp1, tp3, 3, 49152, prompt.size(), tolerance);
}

// The shipped Q4_1 file. The CPU quantizes each activation block to 8 bits
// (scale = amax / 127) before every quantized matrix product, so a rounding
// difference of one ulp in a sum can move a quantized activation by a whole
// step in the next layer; over 30 layers that grows to about 1 logit (of
// logits up to ~30; measured 1.03 here, 1.97 on the chat prompt below, hence
// the bound of 3). The greedy tokens agree here; the F32 test below shows
// the sharding itself is exact up to summation order.
TEST(TpForwardTest, DefaultModelAtTp3MatchesTp1) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  EXPECT_EQ(CheckTp3(path, kFixedPrompt, 12, 3.0), 12u) << "measured: no divergence here";
}

// The prompt of `gqa generate "What is the capital of France?"` (chat
// template): tp=3 follows tp=1 for 7 tokens, then takes the other side of a
// near-tie (measured; ExpectMatches checks that the gap was within reach of
// the logit difference). Kept as a record that divergence happens and how.
TEST(TpForwardTest, DefaultModelChatPromptAtTp3DivergesOnlyAtANearTie) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  auto file = OpenModelFile(Env::Default(), path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->chat_template.ok());
  const std::vector<ChatMessage> messages = {{"user", "What is the capital of France?"}};
  auto rendered = file->chat_template->Render(messages, /*add_generation_prompt=*/true);
  ASSERT_TRUE(rendered.ok());
  const std::vector<int32_t> prompt =
      file->tokenizer->Encode(*rendered, file->chat_template->prompt_encode_options());
  CheckTp3(path, prompt, 9, 3.0);  // measured: diverges at output token 7
}

// The same model converted to F32 (no activation quantization): only the
// order of the row-parallel sums differs.
TEST(TpForwardTest, DefaultModelInF32AtTp3MatchesTp1Closely) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  const std::string f32_path =
      ::testing::TempDir() + "/gqa_tp_f32_" + std::to_string(::getpid()) + ".gguf";
  ConvertOptions options;
  options.dtype = GgmlType::kF32;
  ASSERT_TRUE(ConvertGgufFile(Env::Default(), path, f32_path, options).ok());
  EXPECT_EQ(CheckTp3(f32_path, kFixedPrompt, 8, 2e-4), 8u);
  (void)Env::Default()->DeleteFile(f32_path);
}

}  // namespace
}  // namespace gqa
