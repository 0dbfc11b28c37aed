// tp_decode: decode step time and the share of it spent in all-reduces, at
// tp=1 and tp=3 on the CPU (bench/results/tp-cpu.md). Ranks are threads of
// this process with one CPU thread each, joined by Gloo over loopback, rank 0
// running the offline generator and the others RunFollower, as in
// worker/engine/tp_forward_test.cc.
//   tp_decode MODEL.gguf [--tokens N] [--runs R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/tp_follower.h"
#include "worker/parallel/gloo/thread_group.h"

namespace gqa {
namespace {

struct RankTiming {
  double decode_ms_per_step = 0;
  double allreduce_ms_per_step = 0;
  double plan_bytes_per_step = 0;  // step plans broadcast by rank 0
};

// One rank; rank 0 generates `tokens` greedy tokens and reports its timing.
void RunRank(const std::string& path, int tp, int rank, Communicator* comm, int tokens,
             RankTiming* out) {
  auto backend = MakeCpuBackend({.num_threads = 1});
  auto source = OpenGgufTensorSource(Env::Default(), path);
  CHECK(source.ok()) << source.status();
  const ModelConfig config = (*source)->config();
  auto plan = ShardPlan::Make(config, tp, rank);
  CHECK(plan.ok()) << plan.status();
  auto model = Model::Create(std::move(*source), *plan, backend.get(), comm);
  CHECK(model.ok()) << model.status();
  auto storage = KvCacheStorage::Create(backend.get(), config, *plan, {DType::kF32, 16, 16 << 20});
  CHECK(storage.ok()) << storage.status();
  if (rank > 0) {
    CHECK(RunFollower(**model, **storage, *comm).ok());
    return;
  }
  OfflineGenerator generator(model->get(), storage->get(), Env::Default());
  OfflineRequest request;
  request.prompt_ids = {504, 3458, 282, 4649, 314};
  request.max_new_tokens = tokens;
  request.sampling.temperature = 0;
  // A prefill alone first: its all-reduce time is subtracted below, so that
  // what remains is the decode steps'.
  OfflineRequest prefill_only = request;
  prefill_only.max_new_tokens = 1;
  prefill_only.tenant = "warmup";
  CHECK(generator.Generate(prefill_only, nullptr).ok());
  const int64_t before = (*model)->allreduce_ns();
  const int64_t plan_before = (*model)->plan_bytes_sent();
  request.tenant = "measured";  // another tenant: no prefix reuse
  auto result = generator.Generate(request, nullptr);
  CHECK(result.ok()) << result.status();
  const int64_t decode_allreduce = (*model)->allreduce_ns() - before - before;
  const double steps = tokens - 1;
  out->decode_ms_per_step = result->decode_ns / 1e6 / steps;
  out->allreduce_ms_per_step = std::max<int64_t>(0, decode_allreduce) / 1e6 / steps;
  // The warm-up was one prefill: what the measured run sent beyond that.
  out->plan_bytes_per_step =
      static_cast<double>((*model)->plan_bytes_sent() - 2 * plan_before) / steps;
  if (comm != nullptr) CHECK((*model)->EndGroup().ok());
}

RankTiming RunGroup(const std::string& path, int tp, int tokens) {
  RankTiming timing;
  if (tp == 1) {
    RunRank(path, 1, 0, nullptr, tokens, &timing);
    return timing;
  }
  const absl::Status group = RunThreadGroup(
      tp, std::chrono::milliseconds(60000),
      [&](int rank, Communicator* comm) { RunRank(path, tp, rank, comm, tokens, &timing); });
  CHECK(group.ok()) << group;
  return timing;
}

// Latency of `iterations` back-to-back all-reduces of `floats` values at
// tp=3 with no compute between them: the communication floor.
double AllReduceMicros(int floats, int iterations) {
  double micros = 0;
  const absl::Status group =
      RunThreadGroup(3, std::chrono::milliseconds(10000), [&](int rank, Communicator* comm) {
        std::vector<float> data(floats, 1.0f);
        CHECK(comm->Barrier().ok());
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < iterations; ++i) CHECK(comm->AllReduceSum(absl::MakeSpan(data)).ok());
        const auto end = std::chrono::steady_clock::now();
        if (rank == 0) {
          micros = std::chrono::duration<double, std::micro>(end - start).count() / iterations;
        }
      });
  CHECK(group.ok()) << group;
  return micros;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tp_decode MODEL.gguf [--tokens N] [--runs R]\n");
    return 2;
  }
  int tokens = 64, runs = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--tokens") == 0) tokens = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::atoi(argv[i + 1]);
  }
  std::printf("| tp | run | decode ms/step | all-reduce ms/step (rank 0) | all-reduce share | "
              "plan bytes/step |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int tp : {1, 3}) {
    for (int run = 0; run < runs; ++run) {
      const gqa::RankTiming t = gqa::RunGroup(argv[1], tp, tokens);
      std::printf("| %d | %d | %.2f | %.2f | %.0f%% | %.0f |\n", tp, run + 1, t.decode_ms_per_step,
                  t.allreduce_ms_per_step, 100.0 * t.allreduce_ms_per_step / t.decode_ms_per_step,
                  t.plan_bytes_per_step);
      std::fflush(stdout);
    }
  }
  std::printf("\n| all-reduce at tp=3, no compute | us per call |\n|---|---|\n");
  std::printf("| 576 floats (one decode token's hidden state) | %.0f |\n",
              gqa::AllReduceMicros(576, 2000));
  std::printf("| 131072 floats (512 KiB, Gloo ring) | %.0f |\n", gqa::AllReduceMicros(131072, 200));
  return 0;
}
