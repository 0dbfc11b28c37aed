// Decode attention bandwidth on the GPU: the CUDA backend's paged attention
// kernels (cuda::RunAttention, the backend's own path minus its stream)
// against a read-only streaming kernel measured in the same run. Effective
// bandwidth counts the bytes a decode step must read: K and V, their FP8
// scales and the block tables. Writes a markdown table (stdout and --out).
//   cuda_attention_bench [--out FILE] [--quick] [--max-kv-gib N]
// Exits 2 without a GPU. See docs/cuda-backend.md.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "worker/backend/cuda/cuda_device.h"
#include "worker/backend/cuda/cuda_handles.h"
#include "worker/backend/cuda/cuda_ops.h"

namespace gqa::cuda {
namespace {

#define BENCH_CHECK(expr)                                                               \
  do {                                                                                  \
    const cudaError_t bench_error_ = (expr);                                            \
    if (bench_error_ != cudaSuccess) {                                                  \
      std::fprintf(stderr, "%s failed: %s\n", #expr, cudaGetErrorString(bench_error_)); \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (false)

__global__ void StreamReadKernel(const uint4* data, int64_t words, unsigned* sink) {
  unsigned acc = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint4 w = __ldcs(data + i);  // streaming: read once
    acc ^= w.x ^ w.y ^ w.z ^ w.w;
  }
  if (acc == 0x12345678u) sink[0] = acc;  // keeps the loads; practically never stores
}

// Finite values in every dtype: bf16/f16 exponents kept small, FP8 codes
// with the top exponent bit cleared (no NaN or inf).
__global__ void FillKernel(uint8_t* data, int64_t bytes, uint32_t seed, int elem_bytes) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < bytes;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    uint8_t b = static_cast<uint8_t>(h);
    if (elem_bytes == 1) b &= 0xB7;
    if (elem_bytes == 2 && i % 2 == 1) b = static_cast<uint8_t>((b & 0x80) | 0x3C);
    data[i] = b;
  }
}

__global__ void FillFloatKernel(float* data, int64_t n, float value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    data[i] = value;
  }
}

float Median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median ms of `reps` timed runs of `fn` (after 3 warm-ups) on `stream`.
template <typename F>
float TimeMs(cudaStream_t stream, int reps, F&& fn) {
  cudaEvent_t start, stop;
  BENCH_CHECK(cudaEventCreate(&start));
  BENCH_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) fn(i);
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(cudaEventRecord(start, stream));
    fn(i);
    BENCH_CHECK(cudaEventRecord(stop, stream));
    BENCH_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  BENCH_CHECK(cudaGetLastError());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return Median(times);
}

double StreamBandwidth(cudaStream_t stream, int num_sms) {
  const int64_t bytes = int64_t{4} << 30;
  uint4* data = nullptr;
  unsigned* sink = nullptr;
  BENCH_CHECK(cudaMalloc(&data, bytes));
  BENCH_CHECK(cudaMalloc(&sink, 4));
  FillKernel<<<num_sms * 8, 256, 0, stream>>>(reinterpret_cast<uint8_t*>(data), bytes, 1, 4);
  const float ms = TimeMs(stream, 10, [&](int) {
    StreamReadKernel<<<num_sms * 8, 512, 0, stream>>>(data, bytes / 16, sink);
  });
  cudaFree(data);
  cudaFree(sink);
  return bytes / (ms * 1e-3) / 1e9;
}

struct Shape {
  const char* name;
  int64_t q_heads, kv_heads;
};

struct Result {
  double us = 0, gbps = 0;
  bool skipped = false;
};

// One configuration: `copies` disjoint caches (block tables shuffled within
// each), rotated over the timed runs so that small caches are not read from L2.
Result RunConfig(const Shape& s, DType dtype, int64_t batch, int64_t context, int num_sms,
                 int64_t max_kv_bytes, cudaStream_t stream, Scratch& scratch,
                 DeviceErrorWord errors) {
  constexpr int64_t kDim = 128, kBlock = 16;
  const int64_t elem = DTypeSize(dtype);
  const int64_t blocks_per_seq = context / kBlock;
  const int64_t kv_bytes = batch * context * s.kv_heads * kDim * elem * 2;
  Result r;
  if (kv_bytes > max_kv_bytes) {
    r.skipped = true;
    return r;
  }
  const int copies = static_cast<int>(std::clamp<int64_t>((int64_t{512} << 20) / kv_bytes, 1, 8));
  const int64_t num_blocks = copies * batch * blocks_per_seq;
  const int64_t elems = num_blocks * s.kv_heads * kBlock * kDim;
  const int64_t scales = num_blocks * s.kv_heads * kBlock;
  uint8_t *k, *v;
  float *k_scale = nullptr, *v_scale = nullptr, *q, *out;
  int32_t *tables, *seq_idx, *context_lens;
  BENCH_CHECK(cudaMalloc(&k, elems * elem));
  BENCH_CHECK(cudaMalloc(&v, elems * elem));
  FillKernel<<<num_sms * 8, 256, 0, stream>>>(k, elems * elem, 2, static_cast<int>(elem));
  FillKernel<<<num_sms * 8, 256, 0, stream>>>(v, elems * elem, 3, static_cast<int>(elem));
  if (IsFp8(dtype)) {
    BENCH_CHECK(cudaMalloc(&k_scale, scales * 4));
    BENCH_CHECK(cudaMalloc(&v_scale, scales * 4));
    FillFloatKernel<<<num_sms * 8, 256, 0, stream>>>(k_scale, scales, 0.01f);
    FillFloatKernel<<<num_sms * 8, 256, 0, stream>>>(v_scale, scales, 0.01f);
  }
  const int64_t q_elems = batch * s.q_heads * kDim;
  BENCH_CHECK(cudaMalloc(&q, q_elems * 4));
  BENCH_CHECK(cudaMalloc(&out, q_elems * 4));
  FillFloatKernel<<<num_sms, 256, 0, stream>>>(q, q_elems, 0.05f);
  std::vector<int32_t> host_tables(copies * batch * blocks_per_seq);
  std::mt19937 rng(5);
  for (int c = 0; c < copies; ++c) {
    int32_t* first = host_tables.data() + c * batch * blocks_per_seq;
    std::iota(first, first + batch * blocks_per_seq,
              static_cast<int32_t>(c * batch * blocks_per_seq));
    std::shuffle(first, first + batch * blocks_per_seq, rng);
  }
  std::vector<int32_t> host_seq(batch), host_ctx(batch, static_cast<int32_t>(context));
  std::iota(host_seq.begin(), host_seq.end(), 0);
  BENCH_CHECK(cudaMalloc(&tables, host_tables.size() * 4));
  BENCH_CHECK(cudaMalloc(&seq_idx, batch * 4));
  BENCH_CHECK(cudaMalloc(&context_lens, batch * 4));
  BENCH_CHECK(
      cudaMemcpy(tables, host_tables.data(), host_tables.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(seq_idx, host_seq.data(), batch * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(context_lens, host_ctx.data(), batch * 4, cudaMemcpyHostToDevice));
  AttentionParams p;
  p.q = q;
  p.out = out;
  p.seq_idx = seq_idx;
  p.context_lens = context_lens;
  p.num_seqs = batch;
  p.max_blocks_per_seq = blocks_per_seq;
  p.num_tokens = batch;
  p.num_q_heads = s.q_heads;
  p.cache = {k, v, k_scale, v_scale, dtype, num_blocks, s.kv_heads, kDim, kBlock};
  p.softmax_scale = 0.088f;
  bool failed = false;
  const float ms = TimeMs(stream, 20, [&](int i) {
    AttentionParams run = p;
    run.block_tables = tables + (i % copies) * batch * blocks_per_seq;
    if (!RunAttention(run, num_sms, /*query_tile=*/0, scratch, errors, stream).ok()) failed = true;
  });
  if (failed) std::fprintf(stderr, "attention failed for %s\n", s.name);
  const int64_t read =
      kv_bytes + (IsFp8(dtype) ? batch * context * s.kv_heads * 8 : 0) + batch * blocks_per_seq * 4;
  r.us = ms * 1e3;
  r.gbps = read / (ms * 1e-3) / 1e9;
  for (void* ptr : {static_cast<void*>(k), static_cast<void*>(v), static_cast<void*>(k_scale),
                    static_cast<void*>(v_scale), static_cast<void*>(q), static_cast<void*>(out),
                    static_cast<void*>(tables), static_cast<void*>(seq_idx),
                    static_cast<void*>(context_lens)}) {
    if (ptr != nullptr) cudaFree(ptr);
  }
  return r;
}

int Main(int argc, char** argv) {
  std::string out_path;
  bool quick = false;
  double max_kv_gib = 16;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--out") && i + 1 < argc)
      out_path = argv[++i];
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else if (!std::strcmp(argv[i], "--max-kv-gib") && i + 1 < argc)
      max_kv_gib = std::atof(argv[++i]);
  }
  auto devices = ListCudaDevices();
  if (!devices.ok()) {
    std::fprintf(stderr, "%s\n", std::string(devices.status().message()).c_str());
    return 2;
  }
  const CudaDeviceInfo& dev = (*devices)[0];
  BENCH_CHECK(cudaSetDevice(0));
  cudaStream_t stream;
  BENCH_CHECK(cudaStreamCreate(&stream));
  long long* error_word = nullptr;
  BENCH_CHECK(cudaMalloc(&error_word, 32));
  BENCH_CHECK(cudaMemset(error_word, 0, 32));
  Scratch scratch;
  const double stream_gbps = StreamBandwidth(stream, dev.num_sms);
  std::string md = "# Decode attention bandwidth (CUDA backend)\n\n";
  md += "Device: " + dev.name + " (" + std::to_string(dev.num_sms) + " SMs), " +
        CudaLibraryVersions() + "\n\n";
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "Read-only streaming kernel, same run: **%.0f GB/s** (4 GiB, 16-byte loads).\n\n"
      "head_dim 128, block size 16, shuffled block tables, one decode token per "
      "sequence. GB/s = (K + V + FP8 scales + block tables) bytes / median time of 20.\n\n"
      "| shape | q/kv heads | batch | context | dtype | us | GB/s | %% of stream | fp8 speedup |\n"
      "|---|---|---|---|---|---|---|---|---|\n",
      stream_gbps);
  md += line;
  const Shape shapes[] = {
      {"MHA", 32, 32}, {"GQA-3", 24, 8}, {"GQA-4", 32, 8}, {"GQA-8", 64, 8}, {"MQA", 32, 1}};
  const std::vector<int64_t> contexts =
      quick ? std::vector<int64_t>{1024, 32768} : std::vector<int64_t>{1024, 4096, 16384, 32768};
  const std::vector<int64_t> batches =
      quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 8, 32, 64};
  const int64_t max_kv = static_cast<int64_t>(max_kv_gib * (1 << 30));
  for (const Shape& s : shapes) {
    for (const int64_t batch : batches) {
      for (const int64_t context : contexts) {
        const Result bf = RunConfig(s, DType::kBF16, batch, context, dev.num_sms, max_kv, stream,
                                    scratch, {error_word});
        const Result f8 = RunConfig(s, DType::kFp8E4M3, batch, context, dev.num_sms, max_kv, stream,
                                    scratch, {error_word});
        for (int which = 0; which < 2; ++which) {
          const Result& r = which == 0 ? bf : f8;
          if (r.skipped) {
            std::snprintf(line, sizeof(line),
                          "| %s | %lld/%lld | %lld | %lld | %s | skipped (KV > %.0f GiB) | | | |\n",
                          s.name, (long long)s.q_heads, (long long)s.kv_heads, (long long)batch,
                          (long long)context, which == 0 ? "bf16" : "fp8-e4m3", max_kv_gib);
          } else {
            char speedup[32] = "";
            if (which == 1 && !bf.skipped)
              std::snprintf(speedup, sizeof(speedup), "%.2fx", bf.us / f8.us);
            std::snprintf(line, sizeof(line),
                          "| %s | %lld/%lld | %lld | %lld | %s | %.1f | %.0f | %.0f%% | %s |\n",
                          s.name, (long long)s.q_heads, (long long)s.kv_heads, (long long)batch,
                          (long long)context, which == 0 ? "bf16" : "fp8-e4m3", r.us, r.gbps,
                          100.0 * r.gbps / stream_gbps, speedup);
          }
          md += line;
          std::fputs(line, stderr);  // progress
        }
      }
    }
  }
  long long word[4];
  BENCH_CHECK(cudaMemcpy(word, error_word, 32, cudaMemcpyDeviceToHost));
  if (word[0] != 0) md += "\nDevice error during the run: " + DescribeDeviceError(word) + "\n";
  std::fputs(md.c_str(), stdout);
  if (!out_path.empty()) {
    FILE* f = std::fopen(out_path.c_str(), "w");
    if (f != nullptr) {
      std::fputs(md.c_str(), f);
      std::fclose(f);
    }
  }
  return word[0] != 0 ? 1 : 0;
}

}  // namespace
}  // namespace gqa::cuda

int main(int argc, char** argv) { return gqa::cuda::Main(argc, argv); }
