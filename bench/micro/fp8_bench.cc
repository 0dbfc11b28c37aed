// Throughput of the bulk dtype conversions (core/fp8.h, core/half.h) against a
// plain scalar loop over the same inline functions, on 4096 random activations
// (a KV head_dim * tokens chunk). Reports bytes/s of f32 processed.
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/fp8.h"
#include "core/half.h"

namespace gqa {
namespace {

constexpr size_t kNumValues = 4096;

std::vector<float> Activations() {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 8.0f);
  std::vector<float> values(kNumValues);
  for (float& v : values) v = normal(rng);
  return values;
}

void SetThroughput(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kNumValues * sizeof(float)));
}

void BM_EncodeFp8E4M3Bulk(benchmark::State& state) {
  const std::vector<float> in = Activations();
  std::vector<uint8_t> out(kNumValues);
  for (auto _ : state) {
    EncodeFp8E4M3(in, absl::MakeSpan(out), Fp8Overflow::kSaturating);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_EncodeFp8E4M3Bulk);

void BM_EncodeFp8E4M3ScalarLoop(benchmark::State& state) {
  const std::vector<float> in = Activations();
  std::vector<uint8_t> out(kNumValues);
  for (auto _ : state) {
    for (size_t i = 0; i < kNumValues; ++i) {
      out[i] = FloatToFp8E4M3(in[i], Fp8Overflow::kSaturating);
      benchmark::DoNotOptimize(out[i]);  // keeps the compiler from vectorizing
    }
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_EncodeFp8E4M3ScalarLoop);

void BM_EncodeFp8E5M2Bulk(benchmark::State& state) {
  const std::vector<float> in = Activations();
  std::vector<uint8_t> out(kNumValues);
  for (auto _ : state) {
    EncodeFp8E5M2(in, absl::MakeSpan(out), Fp8Overflow::kNonSaturating);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_EncodeFp8E5M2Bulk);

void BM_DecodeFp8E4M3Bulk(benchmark::State& state) {
  const std::vector<float> values = Activations();
  std::vector<uint8_t> in(kNumValues);
  EncodeFp8E4M3(values, absl::MakeSpan(in), Fp8Overflow::kSaturating);
  std::vector<float> out(kNumValues);
  for (auto _ : state) {
    DecodeFp8E4M3(in, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_DecodeFp8E4M3Bulk);

void BM_DecodeFp8E4M3ScalarLoop(benchmark::State& state) {
  const std::vector<float> values = Activations();
  std::vector<uint8_t> in(kNumValues);
  EncodeFp8E4M3(values, absl::MakeSpan(in), Fp8Overflow::kSaturating);
  std::vector<float> out(kNumValues);
  for (auto _ : state) {
    for (size_t i = 0; i < kNumValues; ++i) {
      out[i] = Fp8E4M3ToFloat(in[i]);
      benchmark::DoNotOptimize(out[i]);
    }
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_DecodeFp8E4M3ScalarLoop);

void BM_Fp8ScaleFor(benchmark::State& state) {
  const std::vector<float> in = Activations();
  for (auto _ : state) benchmark::DoNotOptimize(Fp8ScaleFor(in, DType::kFp8E4M3));
  SetThroughput(state);
}
BENCHMARK(BM_Fp8ScaleFor);

void BM_EncodeF16Bulk(benchmark::State& state) {
  const std::vector<float> in = Activations();
  std::vector<uint16_t> out(kNumValues);
  for (auto _ : state) {
    EncodeF16(in, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_EncodeF16Bulk);

void BM_DecodeF16Bulk(benchmark::State& state) {
  const std::vector<float> values = Activations();
  std::vector<uint16_t> in(kNumValues);
  EncodeF16(values, absl::MakeSpan(in));
  std::vector<float> out(kNumValues);
  for (auto _ : state) {
    DecodeF16(in, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_DecodeF16Bulk);

void BM_EncodeBf16Bulk(benchmark::State& state) {
  const std::vector<float> in = Activations();
  std::vector<uint16_t> out(kNumValues);
  for (auto _ : state) {
    EncodeBf16(in, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state);
}
BENCHMARK(BM_EncodeBf16Bulk);

}  // namespace
}  // namespace gqa

BENCHMARK_MAIN();
