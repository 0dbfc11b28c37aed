// BackendLlama: a Llama-shaped decoder (RMSNorm, GQA attention over a paged
// cache, SwiGLU MLP) run directly over any Backend's ops, with random
// weights, for the CUDA comparison test (the same model and tokens on the CPU
// and the GPU) and the GPU decode-step benchmark. Not the engine: no
// scheduler, no sampler, contiguous block tables. Thread-compatible.
#ifndef GQA_WORKER_BACKEND_CUDA_BACKEND_LLAMA_H_
#define GQA_WORKER_BACKEND_CUDA_BACKEND_LLAMA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model_config.h"
#include "worker/backend/backend.h"

namespace gqa {

struct LlamaShape {
  int64_t num_layers = 2;
  int64_t hidden = 256;
  int64_t q_heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 64;
  int64_t ffn = 512;
  int64_t vocab = 512;
  WeightFormat weight_format = WeightFormat::kF32;  // kF32 or kBF16
  DType kv_dtype = DType::kF32;
  int64_t max_seqs = 1;      // sequences the cache holds
  int64_t max_context = 64;  // slots per sequence
  int64_t max_tokens = 64;   // tokens per step
  double rope_theta = 500000.0;
  RopeScaling rope_scaling;
  bool rope_interleaved_pairs = false;  // RopeParams::interleaved_pairs (GGUF llama: true)
  float norm_eps = 1e-5f;
};

// Host weights to upload instead of random ones (a real checkpoint's views,
// e.g. the engine's ModelWeights with tp = 1): formats F32 or BF16, rows
// packed, norms F32. Borrowed for the duration of CreateFromHost().
struct LlamaHostWeights {
  struct Layer {
    const float* attn_norm = nullptr;  // [hidden]
    const float* ffn_norm = nullptr;   // [hidden]
    WeightView wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  WeightView token_embedding;         // [vocab, hidden]
  WeightView lm_head;                 // [vocab, hidden]
  const float* final_norm = nullptr;  // [hidden]
  std::vector<Layer> layers;          // the first shape.num_layers are used
};

// Moves bytes between host memory and a backend's memory.
using BackendCopy = std::function<absl::Status(void* dst, const void* src, int64_t bytes)>;

class BackendLlama {
 public:
  // Weights drawn from `seed` (the same on every backend), the cache zeroed.
  // INVALID_ARGUMENT for an unsupported weight format.
  static absl::StatusOr<std::unique_ptr<BackendLlama>> Create(Backend* backend,
                                                              BackendCopy to_backend,
                                                              BackendCopy to_host,
                                                              const LlamaShape& shape,
                                                              uint32_t seed);

  // The same model with `weights` uploaded. INVALID_ARGUMENT when a weight's
  // format is not the shape's or its shape differs.
  static absl::StatusOr<std::unique_ptr<BackendLlama>> CreateFromHost(
      Backend* backend, BackendCopy to_backend, BackendCopy to_host, const LlamaShape& shape,
      const LlamaHostWeights& weights);

  // One forward step: token t is token_ids[t] of sequence seq_idx[t] at
  // position positions[t] (it attends to positions [0, positions[t]]).
  // Waits for the backend. REQUIRES: sizes within the shape's limits.
  absl::Status Step(const std::vector<int32_t>& token_ids, const std::vector<int32_t>& seq_idx,
                    const std::vector<int32_t>& positions);
  // [num_tokens of the last step, vocab].
  absl::StatusOr<std::vector<float>> Logits();

  int64_t weight_bytes() const { return weight_bytes_; }

 private:
  struct Layer {
    WeightView wq, wk, wv, wo, w_gate, w_up, w_down;
    float* attn_norm;
    float* ffn_norm;
    PagedKvView kv;
  };
  BackendLlama(Backend* backend, BackendCopy to_backend, BackendCopy to_host,
               const LlamaShape& shape)
      : backend_(backend),
        to_backend_(std::move(to_backend)),
        to_host_(std::move(to_host)),
        shape_(shape) {}
  absl::StatusOr<void*> Buffer(int64_t bytes);
  absl::StatusOr<WeightView> RandomWeight(int64_t rows, int64_t cols, uint32_t seed);
  absl::StatusOr<WeightView> UploadWeight(const WeightView& host, int64_t rows, int64_t cols);
  absl::StatusOr<float*> UploadNorm(const float* host);
  // Everything but the weights: caches, activations, step arrays.
  absl::Status AllocateState();
  absl::StatusOr<float*> Ones(int64_t n);
  absl::Status RunLayer(const Layer& layer, int64_t tokens);

  Backend* backend_;
  BackendCopy to_backend_, to_host_;
  LlamaShape shape_;
  std::vector<std::unique_ptr<BackendBuffer>> buffers_;
  std::vector<Layer> layers_;
  WeightView embedding_, lm_head_;
  float* final_norm_ = nullptr;
  // Activations and step arrays, in backend memory.
  float *x_, *normed_, *q_, *k_, *v_, *attn_, *gate_, *up_, *logits_;
  int32_t *ids_, *positions_, *seq_idx_, *context_lens_, *block_tables_;
  int64_t* slots_;
  int64_t last_tokens_ = 0;
  int64_t weight_bytes_ = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_CUDA_BACKEND_LLAMA_H_
