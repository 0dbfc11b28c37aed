// ModelWeights: one rank's views of a Llama-family checkpoint, checked
// against the model shape and sliced by its ShardPlan (row slices of Q/K/V,
// gate and up; column slices of the output and down projections). Views
// point into the TensorSource's mapping; no weight is copied on the CPU.
// Immutable after Load(); thread-safe to read.
#ifndef GQA_WORKER_ENGINE_MODEL_WEIGHTS_H_
#define GQA_WORKER_ENGINE_MODEL_WEIGHTS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/weight_format.h"
#include "worker/engine/tensor_source.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [hidden]
  WeightView wq;                     // [plan.num_q_heads * head_dim, hidden]
  WeightView wk;                     // [plan.num_kv_heads * head_dim, hidden]
  WeightView wv;                     // [plan.num_kv_heads * head_dim, hidden]
  WeightView wo;                     // [hidden, plan.num_q_heads * head_dim]
  const float* ffn_norm = nullptr;   // [hidden]
  WeightView w_gate;                 // [plan.ffn_size, hidden]
  WeightView w_up;                   // [plan.ffn_size, hidden]
  WeightView w_down;                 // [hidden, plan.ffn_size]
};

struct ModelWeights {
  WeightView token_embedding;  // [vocab, hidden]
  const float* final_norm = nullptr;  // [hidden]
  WeightView lm_head;          // [vocab, hidden]; the embedding when tied
  std::vector<LayerWeights> layers;

  // INVALID_ARGUMENT naming the tensor when one is missing, has the wrong
  // shape for the config, or a norm is not F32.
  static absl::StatusOr<ModelWeights> Load(const TensorSource& source, const ShardPlan& plan);
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_MODEL_WEIGHTS_H_
