// Decode tokens/s of a Llama-shaped model (random bf16 weights) on the CUDA
// backend, through BackendLlama: every decode step runs embedding, per layer
// RMSNorm, QKV/O/MLP GEMMs (cuBLAS), RoPE, KV write and paged attention, then
// the LM head, launched eagerly (no CUDA graphs) and synchronized. Not the
// engine: no scheduler or sampler. bench/e2e/torch_decode_step.py times the
// same shapes in PyTorch on the same machine. Writes a markdown table.
//   cuda_decode_step_bench [--out FILE] [--layers N] [--kv bf16|fp8-e4m3]
// Exits 2 without a GPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "worker/backend/cuda/backend_llama.h"
#include "worker/backend/cuda/cuda_backend.h"

namespace gqa {
namespace {

int Main(int argc, char** argv) {
  std::string out_path;
  int64_t layers = 32;
  DType kv = DType::kBF16;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--out") && i + 1 < argc)
      out_path = argv[++i];
    else if (!std::strcmp(argv[i], "--layers") && i + 1 < argc)
      layers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--kv") && i + 1 < argc) {
      kv = std::string(argv[++i]) == "fp8-e4m3" ? DType::kFp8E4M3 : DType::kBF16;
    }
  }
  auto backend = MakeCudaBackend({});
  if (!backend.ok()) {
    std::fprintf(stderr, "%s\n", std::string(backend.status().message()).c_str());
    return 2;
  }
  CudaBackend* device = backend->get();
  // Llama-3-8B's shape.
  LlamaShape shape;
  shape.num_layers = layers;
  shape.hidden = 4096;
  shape.q_heads = 32;
  shape.kv_heads = 8;
  shape.head_dim = 128;
  shape.ffn = 14336;
  shape.vocab = 128256;
  shape.weight_format = WeightFormat::kBF16;
  shape.kv_dtype = kv;
  const std::vector<int64_t> batches = {1, 8, 32, 64};
  const std::vector<int64_t> contexts = {1024, 4096};
  shape.max_seqs = 64;
  shape.max_context = 4096 + 64;
  shape.max_tokens = 64;
  auto to_device = [device](void* d, const void* s, int64_t n) {
    return device->CopyToDevice(d, s, n);
  };
  auto to_host = [device](void* d, const void* s, int64_t n) {
    return device->CopyToHost(d, s, n);
  };
  auto model = BackendLlama::Create(device, to_device, to_host, shape, 1);
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  std::string md = "# Decode step, Llama-3-8B shape, random bf16 weights (CUDA backend)\n\n";
  md += "Device: " + device->device().name + "; " + std::to_string(layers) + " layers, " +
        std::to_string((*model)->weight_bytes() >> 20) + " MiB of weights; KV " +
        std::string(DTypeName(kv)) +
        ". Eager launches, no CUDA graphs; the KV cache holds zeros (the cache is not "
        "prefilled: positions are set directly). Median of 10 steps after 3.\n\n"
        "| batch | context | step ms | tokens/s |\n|---|---|---|---|\n";
  for (const int64_t batch : batches) {
    for (const int64_t context : contexts) {
      std::vector<int32_t> ids(batch), seqs(batch), positions(batch, static_cast<int32_t>(context));
      for (int64_t i = 0; i < batch; ++i) {
        ids[i] = static_cast<int32_t>((i * 7919) % shape.vocab);
        seqs[i] = static_cast<int32_t>(i);
      }
      std::vector<double> ms;
      for (int rep = 0; rep < 13; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        const absl::Status status = (*model)->Step(ids, seqs, positions);
        const auto end = std::chrono::steady_clock::now();
        if (!status.ok()) {
          std::fprintf(stderr, "step: %s\n", std::string(status.message()).c_str());
          return 1;
        }
        if (rep >= 3) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      }
      std::sort(ms.begin(), ms.end());
      const double median = ms[ms.size() / 2];
      char line[128];
      std::snprintf(line, sizeof(line), "| %lld | %lld | %.2f | %.0f |\n", (long long)batch,
                    (long long)context, median, batch / (median * 1e-3));
      md += line;
      std::fputs(line, stderr);
    }
  }
  std::fputs(md.c_str(), stdout);
  if (!out_path.empty()) {
    if (FILE* f = std::fopen(out_path.c_str(), "w")) {
      std::fputs(md.c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) { return gqa::Main(argc, argv); }
