// Tiny Llama-family models with random weights, held in memory, for unit
// tests of the engine (MHA, GQA and MQA shapes). Weights are F32 so that a
// test's own reference forward pass can read them directly.
// Thread-compatible.
#ifndef GQA_WORKER_ENGINE_TESTING_TINY_MODEL_H_
#define GQA_WORKER_ENGINE_TESTING_TINY_MODEL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "worker/engine/tensor_source.h"

namespace gqa {

// A ModelConfig of the given head counts: 2 layers, head_dim 16, hidden =
// query heads x 16, intermediate 64, vocab 97, context 256.
ModelConfig TinyConfig(int64_t num_query_heads, int64_t num_kv_heads);

// TinyConfig(8, 2) with intermediate 128 and vocab 96: splits over tp 2 and
// 4 (KV heads replicated at 4), for the tensor-parallel tests.
ModelConfig TinyGqa82Config();

// A TensorSource over named F32 tensors kept in memory.
class MemoryTensorSource : public TensorSource {
 public:
  MemoryTensorSource(ModelConfig config, RopeLayout layout)
      : config_(std::move(config)), layout_(layout) {}
  const ModelConfig& config() const override { return config_; }
  RopeLayout rope_layout() const override { return layout_; }
  const std::string& fingerprint() const override { return fingerprint_; }
  absl::StatusOr<RawTensor> Find(absl::string_view name) const override;

  // Adds or replaces tensor `name` of `shape` (outermost first).
  void Put(const std::string& name, std::vector<int64_t> shape, std::vector<float> values);
  const std::vector<float>& values(const std::string& name) const { return tensors_.at(name).values; }

 private:
  struct Stored {
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  ModelConfig config_;
  RopeLayout layout_;
  std::string fingerprint_ = "tiny";
  std::map<std::string, Stored, std::less<>> tensors_;
};

// Random weights (normal, std 0.2; norms near 1) for every tensor of `config`.
std::unique_ptr<MemoryTensorSource> MakeTinyModel(const ModelConfig& config, uint32_t seed,
                                                  RopeLayout layout = RopeLayout::kInterleavedPairs);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TESTING_TINY_MODEL_H_
