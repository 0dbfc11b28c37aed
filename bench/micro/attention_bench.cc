// Decode attention on the CPU backend against the machine's read bandwidth.
// BM_StreamRead sums a u64 array four times the last-level cache with the
// same ThreadPool and thread count as the attention: the bytes/s a perfect
// memory-bound kernel could reach. BM_Decode runs cpu::PagedAttention for one
// query token per sequence over a paged cache (blocks shuffled, as after
// churn) and reports the bytes it must read (K + V + FP8 scales + block
// tables) per second, and that rate over the streaming rate (vs_stream).
// Shapes: 32 query heads of dim 128 with 32 (MHA, Llama-2-7B), 8 (GQA,
// Llama-3-8B) and 1 (MQA) KV heads. Results: bench/results/cpu-attention-bandwidth.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/fp8.h"
#include "core/half.h"
#include "core/log.h"
#include "worker/backend/backend.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cpu/thread_pool.h"

namespace gqa {
namespace {

constexpr int64_t kQueryHeads = 32;
constexpr int64_t kHeadDim = 128;
constexpr int64_t kBlockSize = 16;

int NumThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

// The streaming loop's pool: the backend's settings (CpuBackendOptions'
// default poll, every core).
ThreadPool& Pool() {
  static ThreadPool* pool = new ThreadPool(NumThreads(), 50'000);
  return *pool;
}

// The larger of glibc's and the kernel's L3 size (on this project's AMD VMs
// glibc reports 320 MiB and /sys 32 MiB); 32 MiB when neither knows.
int64_t LastLevelCacheBytes() {
  int64_t bytes = std::max<int64_t>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
  std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index3/size");
  std::string text;
  if (file >> text && !text.empty()) {
    const int64_t value = std::atoll(text.c_str());
    const char unit = text.back();
    bytes = std::max(bytes, unit == 'K' ? value << 10 : unit == 'M' ? value << 20 : value);
  }
  return bytes > 0 ? bytes : int64_t{32} << 20;
}

// The backend whose Allocate (2 MiB-aligned, huge pages advised) and
// PagedAttention the decode benchmarks use, with every core.
Backend& CpuBackend() {
  static Backend* backend = MakeCpuBackend({NumThreads(), 50}).release();
  return *backend;
}

std::unique_ptr<BackendBuffer> AllocateBytes(int64_t bytes) {
  auto buffer = CpuBackend().Allocate(bytes);
  CHECK(buffer.ok()) << buffer.status();
  return *std::move(buffer);
}

// ---- Streaming read ----

constexpr int64_t kStreamChunkBytes = int64_t{1} << 20;

struct StreamArray {
  int64_t bytes = 0;
  std::unique_ptr<BackendBuffer> data;
  std::vector<uint64_t> partial;  // one sum per chunk
};

StreamArray& Stream() {
  static StreamArray* array = [] {
    auto* a = new StreamArray;
    a->bytes =
        (4 * LastLevelCacheBytes() + kStreamChunkBytes - 1) / kStreamChunkBytes * kStreamChunkBytes;
    a->data = AllocateBytes(a->bytes);
    uint64_t* words = static_cast<uint64_t*>(a->data->data());
    std::iota(words, words + a->bytes / 8, uint64_t{1});
    a->partial.resize(a->bytes / kStreamChunkBytes);
    return a;
  }();
  return *array;
}

// One pass: every thread sums 1 MiB chunks (u64 adds, vectorized with SSE2).
uint64_t StreamPass(StreamArray& a) {
  const uint64_t* words = static_cast<const uint64_t*>(a.data->data());
  const int64_t chunk_words = kStreamChunkBytes / 8;
  Pool().ParallelFor(static_cast<int64_t>(a.partial.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      uint64_t sum = 0;
      for (int64_t i = c * chunk_words; i < (c + 1) * chunk_words; ++i) sum += words[i];
      a.partial[c] = sum;
    }
  });
  return std::accumulate(a.partial.begin(), a.partial.end(), uint64_t{0});
}

void BM_StreamRead(benchmark::State& state) {
  StreamArray& a = Stream();
  for (auto _ : state) benchmark::DoNotOptimize(StreamPass(a));
  state.SetBytesProcessed(state.iterations() * a.bytes);
  state.counters["working_set_MiB"] = static_cast<double>(a.bytes) / (1 << 20);
  state.counters["threads"] = NumThreads();
}

// ---- Scattered tile reads: the ceiling for a paged cache ----

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

// The streaming array read as tiles of state.range(0) bytes in shuffled
// order, with the attention kernels' prefetch (8 tiles ahead, one line per
// line read) when state.range(1): what any kernel reading a
// block-table-scattered cache of that tile size could reach. Paired with a
// streaming pass per iteration.
void BM_TileRead(benchmark::State& state) {
  const int64_t tile = state.range(0);
  const bool prefetch = state.range(1) != 0;
  StreamArray& a = Stream();
  const int64_t num_tiles = a.bytes / tile;
  std::vector<int32_t> order(num_tiles);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const char* base = static_cast<const char*>(a.data->data());
  constexpr int64_t kTilesPerChunk = 256;
  std::vector<uint64_t> partial((num_tiles + kTilesPerChunk - 1) / kTilesPerChunk);
  std::vector<double> rates, stream_rates, ratios;
  for (auto _ : state) {
    state.PauseTiming();
    auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(StreamPass(a));
    const double stream_rate = static_cast<double>(a.bytes) / SecondsSince(start);
    stream_rates.push_back(stream_rate);
    state.ResumeTiming();
    start = std::chrono::steady_clock::now();
    Pool().ParallelFor(static_cast<int64_t>(partial.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        uint64_t sum = 0;
        for (int64_t t = c * kTilesPerChunk; t < std::min(num_tiles, (c + 1) * kTilesPerChunk);
             ++t) {
          const uint64_t* words = reinterpret_cast<const uint64_t*>(base + order[t] * tile);
          const char* ahead = prefetch && t + 8 < num_tiles ? base + order[t + 8] * tile : nullptr;
          for (int64_t i = 0; i < tile / 8; i += 8) {
            if (ahead != nullptr) __builtin_prefetch(ahead + i * 8, 0, 1);
            for (int k = 0; k < 8; ++k) sum += words[i + k];
          }
        }
        partial[c] = sum;
      }
    });
    benchmark::DoNotOptimize(partial.data());
    rates.push_back(static_cast<double>(num_tiles * tile) / SecondsSince(start));
    ratios.push_back(rates.back() / stream_rate);
  }
  state.SetBytesProcessed(state.iterations() * num_tiles * tile);
  state.counters["GBps"] = Median(rates) / 1e9;
  state.counters["stream_GBps"] = Median(stream_rates) / 1e9;
  state.counters["vs_stream"] = Median(ratios);
}

// ---- Decode attention ----

struct DecodeCase {
  DType dtype;
  int64_t kv_heads;
  int64_t context;
  int64_t num_seqs;
  bool hot = false;       // every sequence reads the same 16 blocks: cache-resident, compute bound
  bool in_order = false;  // block tables in allocation order (a fresh pool), not shuffled
};

// A paged cache of num_seqs sequences of `context` tokens, with random
// finite values (a 64 KiB pattern of encoded normals, repeated).
struct DecodeSetup {
  std::unique_ptr<BackendBuffer> k, v, k_scale, v_scale;
  std::vector<int32_t> block_tables, seq_idx, context_lens;
  std::vector<float> q, out;
  AttentionParams params;
  int64_t bytes_read = 0;
};

void FillRandomCodes(char* dst, int64_t bytes, DType dtype, std::mt19937& rng) {
  constexpr int64_t kPatternValues = 16384;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(kPatternValues);
  for (float& x : values) x = normal(rng);
  std::vector<char> pattern(kPatternValues * DTypeSize(dtype));
  const absl::Span<const float> in(values);
  switch (dtype) {
    case DType::kF32:
      std::memcpy(pattern.data(), values.data(), pattern.size());
      break;
    case DType::kF16:
      EncodeF16(in, {reinterpret_cast<uint16_t*>(pattern.data()), values.size()});
      break;
    case DType::kBF16:
      EncodeBf16(in, {reinterpret_cast<uint16_t*>(pattern.data()), values.size()});
      break;
    default:
      for (float& x : values) x *= 100.0f;  // spread over the FP8 range
      EncodeFp8(dtype, in, {reinterpret_cast<uint8_t*>(pattern.data()), values.size()},
                Fp8Overflow::kSaturating);
  }
  for (int64_t at = 0; at < bytes; at += static_cast<int64_t>(pattern.size())) {
    std::memcpy(dst + at, pattern.data(), std::min<int64_t>(pattern.size(), bytes - at));
  }
}

std::unique_ptr<DecodeSetup> MakeDecode(const DecodeCase& c) {
  auto s = std::make_unique<DecodeSetup>();
  std::mt19937 rng(42);
  const int64_t blocks_per_seq = c.context / kBlockSize;
  const int64_t num_blocks = c.hot ? 16 : blocks_per_seq * c.num_seqs;
  const int64_t cache_bytes = num_blocks * c.kv_heads * kBlockSize * kHeadDim * DTypeSize(c.dtype);
  s->k = AllocateBytes(cache_bytes);
  s->v = AllocateBytes(cache_bytes);
  FillRandomCodes(static_cast<char*>(s->k->data()), cache_bytes, c.dtype, rng);
  FillRandomCodes(static_cast<char*>(s->v->data()), cache_bytes, c.dtype, rng);
  const bool fp8 = IsFp8(c.dtype);
  const int64_t num_scales = num_blocks * c.kv_heads * kBlockSize;
  if (fp8) {
    std::uniform_real_distribution<float> scale(0.005f, 0.02f);
    s->k_scale = AllocateBytes(num_scales * sizeof(float));
    s->v_scale = AllocateBytes(num_scales * sizeof(float));
    for (BackendBuffer* buffer : {s->k_scale.get(), s->v_scale.get()}) {
      float* scales = static_cast<float*>(buffer->data());
      for (int64_t i = 0; i < num_scales; ++i) scales[i] = scale(rng);
    }
  }
  s->block_tables.resize(blocks_per_seq * c.num_seqs);
  for (size_t i = 0; i < s->block_tables.size(); ++i) {
    s->block_tables[i] = static_cast<int32_t>(i % num_blocks);
  }
  if (!c.in_order) std::shuffle(s->block_tables.begin(), s->block_tables.end(), rng);
  s->seq_idx.resize(c.num_seqs);
  std::iota(s->seq_idx.begin(), s->seq_idx.end(), 0);
  s->context_lens.assign(c.num_seqs, static_cast<int32_t>(c.context));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  s->q.resize(c.num_seqs * kQueryHeads * kHeadDim);
  for (float& x : s->q) x = normal(rng);
  s->out.resize(s->q.size());

  AttentionParams& p = s->params;
  p.q = s->q.data();
  p.out = s->out.data();
  p.seq_idx = s->seq_idx.data();
  p.context_lens = s->context_lens.data();
  p.block_tables = s->block_tables.data();
  p.num_seqs = c.num_seqs;
  p.max_blocks_per_seq = blocks_per_seq;
  p.num_tokens = c.num_seqs;
  p.num_q_heads = kQueryHeads;
  p.cache = PagedKvView{s->k->data(),
                        s->v->data(),
                        fp8 ? static_cast<float*>(s->k_scale->data()) : nullptr,
                        fp8 ? static_cast<float*>(s->v_scale->data()) : nullptr,
                        c.dtype,
                        num_blocks,
                        c.kv_heads,
                        kHeadDim,
                        kBlockSize};
  p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  // Bytes the step reads (from memory unless hot): K, V, scales, block tables.
  const int64_t slots = c.num_seqs * c.context * c.kv_heads;
  s->bytes_read = 2 * slots * (kHeadDim * DTypeSize(c.dtype) + (fp8 ? sizeof(float) : 0)) +
                  s->block_tables.size() * sizeof(int32_t);
  return s;
}

// Each iteration first times one streaming pass (outside the benchmark's
// clock), then the attention step: the machine's memory bandwidth drifts by
// up to 2x within minutes on a shared host, so vs_stream is the median of
// per-iteration ratios of the two rates, each pair measured back to back.
void BM_Decode(benchmark::State& state, DecodeCase c) {
  const std::unique_ptr<DecodeSetup> setup = MakeDecode(c);
  if (!CpuBackend().PagedAttention(setup->params).ok()) {
    state.SkipWithError("PagedAttention failed");
    return;
  }
  StreamArray& stream = Stream();
  std::vector<double> rates, stream_rates, ratios;
  for (auto _ : state) {
    state.PauseTiming();
    auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(StreamPass(stream));
    stream_rates.push_back(static_cast<double>(stream.bytes) / SecondsSince(start));
    state.ResumeTiming();
    start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(CpuBackend().PagedAttention(setup->params));
    benchmark::ClobberMemory();
    rates.push_back(static_cast<double>(setup->bytes_read) / SecondsSince(start));
    ratios.push_back(rates.back() / stream_rates.back());
  }
  state.SetBytesProcessed(state.iterations() * setup->bytes_read);
  state.counters["read_MiB"] = static_cast<double>(setup->bytes_read) / (1 << 20);
  state.counters["GBps"] = Median(rates) / 1e9;
  state.counters["stream_GBps"] = Median(stream_rates) / 1e9;
  state.counters["vs_stream"] = Median(ratios);
  state.counters["tasks"] = static_cast<double>(c.num_seqs * c.kv_heads);
}

void RegisterDecodeBenchmarks() {
  const DType dtypes[] = {DType::kBF16, DType::kF16, DType::kF32, DType::kFp8E4M3};
  const std::pair<int64_t, const char*> shapes[] = {{32, "MHA"}, {8, "GQA"}, {1, "MQA"}};
  for (const int64_t context : {8192, 16384}) {
    for (const auto& [kv_heads, shape] : shapes) {
      for (const int64_t num_seqs : {1, 4}) {
        for (const DType dtype : dtypes) {
          const std::string name = absl::StrCat("BM_Decode/", shape, "-kv", kv_heads, "/ctx",
                                                context, "/seqs", num_seqs, "/", DTypeName(dtype));
          benchmark::RegisterBenchmark(name.c_str(), BM_Decode,
                                       DecodeCase{dtype, kv_heads, context, num_seqs})
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->MinTime(0.3);
          if (context != 8192 || num_seqs != 4) continue;
          benchmark::RegisterBenchmark(absl::StrCat(name, "/hot").c_str(), BM_Decode,
                                       DecodeCase{dtype, kv_heads, context, num_seqs, true})
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->MinTime(0.3);
          if (kv_heads == 1) continue;
          benchmark::RegisterBenchmark(absl::StrCat(name, "/in_order").c_str(), BM_Decode,
                                       DecodeCase{dtype, kv_heads, context, num_seqs, false, true})
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->MinTime(0.3);
        }
      }
    }
  }
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_StreamRead", gqa::BM_StreamRead)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_TileRead", gqa::BM_TileRead)
      ->ArgNames({"tile_bytes", "prefetch"})
      ->ArgsProduct({{2048, 4096, 8192}, {0, 1}})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(0.3);
  gqa::RegisterDecodeBenchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
