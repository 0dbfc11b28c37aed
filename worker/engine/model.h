// Model: the forward pass of a Llama-family decoder (RMSNorm, RoPE, GQA/MQA/
// MHA attention over a paged KV cache, SwiGLU) for one tensor-parallel rank,
// on any Backend. MHA, GQA and MQA share one code path. Used by the offline
// generator and the worker's step loop. Thread-compatible: one engine thread.
#ifndef GQA_WORKER_ENGINE_MODEL_H_
#define GQA_WORKER_ENGINE_MODEL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/backend.h"
#include "worker/engine/forward_batch.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/tensor_source.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {

class Model {
 public:
  // Checks the weights against the shape and keeps `source` alive (the
  // weights point into it). `backend` must outlive the model.
  static absl::StatusOr<std::unique_ptr<Model>> Create(std::unique_ptr<TensorSource> source,
                                                       const ShardPlan& plan, Backend* backend);

  const ModelConfig& config() const { return source_->config(); }
  const ShardPlan& plan() const { return plan_; }
  const std::string& fingerprint() const { return source_->fingerprint(); }
  Backend* backend() const { return backend_; }

  // Runs the step: writes each token's K/V into `kv_layers[layer]` at its slot,
  // and fills `logits` with [batch.logit_token_idx.size(), vocab] rows.
  // `kv_layers` has one view per layer (this rank's KV heads). When the
  // batch asks for column sums (h2o), `column_sums` receives them,
  // [num_layers, batch.column_sums_per_layer].
  // INVALID_ARGUMENT for a malformed batch (ids outside the vocabulary,
  // inconsistent sizes, slots outside the cache).
  absl::Status Forward(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                       std::vector<float>& logits, std::vector<float>* column_sums = nullptr);

 private:
  Model(std::unique_ptr<TensorSource> source, const ShardPlan& plan, ModelWeights weights,
        Backend* backend)
      : source_(std::move(source)), plan_(plan), weights_(std::move(weights)), backend_(backend) {}

  absl::Status ValidateBatch(const ForwardBatch& batch, size_t num_kv_layers) const;
  absl::Status AttentionBlock(const ForwardBatch& batch, int64_t layer_index,
                              const PagedKvView& kv, float* column_sums, float* x);
  absl::Status MlpBlock(const LayerWeights& layer, int64_t num_tokens, float* x);

  std::unique_ptr<TensorSource> source_;
  ShardPlan plan_;
  ModelWeights weights_;
  Backend* backend_;
  // Step scratch, grown as needed: [num_tokens, width] each.
  std::vector<float> normed_, q_, q_sink_, k_, v_, attn_, gate_, up_;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_MODEL_H_
