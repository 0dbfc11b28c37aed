// The CPU GEMM on SmolLM2-135M's matrix shapes (Q4_1 layers, Q8_0 LM head,
// and a 90 MB Q4_1 matrix that, like the whole model per token, does not stay
// in cache) at 1..64 tokens, one thread, in three kernels: the production row x token
// tiles (batch-invariant), the same tiles with the benchmark-only free order
// (one- and two-token tiles summed in 4 and 2 interleaved chains, which a
// batch-invariant kernel may not do), and the old kernel (one DotRow per row
// and token). Reports weight-block x token products per second ("MACs" are
// 32 per block) so shapes compare. Results: bench/results/worker-batched-throughput.md.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/half.h"
#include "worker/backend/cpu/gemm.h"
#include "worker/backend/cpu/thread_pool.h"

namespace gqa::cpu {
namespace {

enum Kernel { kTiles = 0, kFreeOrder = 1, kNoTiles = 2 };

struct Shape {
  WeightFormat format;
  int64_t rows, cols;
};
constexpr Shape kShapes[] = {
    {WeightFormat::kQ4_1, 576, 576},      // attn_q / attn_output
    {WeightFormat::kQ4_1, 1536, 576},     // ffn_gate / ffn_up
    {WeightFormat::kQ4_1, 576, 1536},     // ffn_down
    {WeightFormat::kQ8_0, 49152, 576},    // tied LM head
    {WeightFormat::kQ4_1, 250000, 576}};  // 90 MB: streamed like a whole model

void BM_Gemm(benchmark::State& state) {
  const Shape shape = kShapes[state.range(0)];
  const int64_t tokens = state.range(1);
  const Kernel kernel = static_cast<Kernel>(state.range(2));
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> weights(shape.rows * RowBytes(shape.format, shape.cols));
  for (auto& b : weights) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < shape.rows * shape.cols / 32; ++b) {
    const uint16_t scale = FloatToHalf(0.01f);
    std::memcpy(weights.data() + b * BlockBytes(shape.format), &scale, 2);
  }
  std::vector<float> x(tokens * shape.cols), y(tokens * shape.rows);
  for (auto& v : x) v = normal(rng);
  ThreadPool pool(1);
  const GemmParams params{
      x.data(), {shape.format, weights.data(), shape.rows, shape.cols}, y.data(), tokens, false};
  for (auto _ : state) {
    (void)internal::GemmForTesting(
        params, pool, kernel == kFreeOrder ? TileOrder::kFreeOrder : TileOrder::kInvariant,
        kernel != kNoTiles);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["block_dots_per_s"] =
      benchmark::Counter(static_cast<double>(shape.rows * shape.cols / 32 * tokens),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kernel == kTiles ? "tiles" : kernel == kFreeOrder ? "free_order" : "no_tiles");
}

BENCHMARK(BM_Gemm)
    ->ArgNames({"shape", "tokens", "kernel"})
    ->ArgsProduct({{0, 1, 2, 3, 4}, {1, 2, 4, 8, 16, 64}, {kTiles, kFreeOrder, kNoTiles}})
    ->MeasureProcessCPUTime();  // CPU time: the shared CI machine preempts us

}  // namespace
}  // namespace gqa::cpu

BENCHMARK_MAIN();
