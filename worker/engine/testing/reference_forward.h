// ReferenceForward: an independent, direct transcription of the Llama
// forward pass in double precision over contiguous K/V, reading a tiny
// model's F32 weights: the oracle of the engine's tests. Besides the full
// cache it runs the bounded KV policies the way their papers state them,
// token by token: StreamingLLM with pre-RoPE keys rotated by their position
// in the cache, window likewise, H2O with scores accumulated per layer and KV
// head over the group's query heads. Test-only.
#ifndef GQA_WORKER_ENGINE_TESTING_REFERENCE_FORWARD_H_
#define GQA_WORKER_ENGINE_TESTING_REFERENCE_FORWARD_H_

#include <cstdint>
#include <vector>

#include "core/kv_options.h"
#include "worker/engine/testing/tiny_model.h"

namespace gqa {

class ReferenceForward {
 public:
  explicit ReferenceForward(const MemoryTensorSource& source) : s_(source), c_(source.config()) {}

  // Logits of the last token of `tokens` with the full cache.
  std::vector<double> LastLogits(const std::vector<int32_t>& tokens);

  // Logits after each token of `tokens`, computed one token at a time under
  // `policy`: element i predicts tokens[i + 1].
  std::vector<std::vector<double>> DecodeLogits(const std::vector<int32_t>& tokens,
                                                const KvPolicy& policy);

 private:
  std::vector<double> Norm(const std::vector<double>& x, const std::vector<float>& w) const;
  std::vector<double> MatVec(const std::vector<float>& w, const std::vector<double>& x,
                             int64_t rows) const;
  // Rotates one head (interleaved pairs, the GGUF layout) to `pos`.
  void RotateHead(double* x, int64_t pos) const;
  void Mlp(const std::string& prefix, std::vector<double>& x) const;

  const MemoryTensorSource& s_;
  const ModelConfig& c_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TESTING_REFERENCE_FORWARD_H_
