// Model: the forward pass of a Llama-family decoder (RMSNorm, RoPE, GQA/MQA/
// MHA attention over a paged KV cache, SwiGLU) for one tensor-parallel rank,
// on any Backend. MHA, GQA and MQA share one code path. With tp > 1 the
// attention output and MLP down projections are row-parallel and summed over
// the group by the Communicator; embeddings, norms and the LM head are
// replicated (docs/tensor-parallel.md). One code path for every backend:
// weights, activations and the step's arrays live in the backend's memory
// (ResidentWeights, BackendArray, StepArrays: no copies on the CPU, copies
// in and out per step on CUDA, docs/cuda-backend.md). Used by the offline
// generator and the worker's step loop. Thread-compatible: one engine thread.
#ifndef GQA_WORKER_ENGINE_MODEL_H_
#define GQA_WORKER_ENGINE_MODEL_H_

#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/backend.h"
#include "worker/engine/backend_array.h"
#include "worker/engine/forward_batch.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/rank_heads.h"
#include "worker/engine/resident_weights.h"
#include "worker/engine/step_arrays.h"
#include "worker/engine/step_plan.h"
#include "worker/engine/tensor_source.h"
#include "worker/parallel/communicator.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {

// How decode-shaped steps (one token per sequence, logits for each, no
// bounded policy) run on a backend with step capture (CUDA graphs).
enum class DecodeGraphs {
  kOff,  // every step eagerly, as given
  // Up to ModelOptions::max_graph_batch tokens: the block table is padded to
  // a power-of-two width (at least 8), the first step of each (batch size,
  // width) runs eagerly and is then captured, and later ones replay the
  // capture. Backends without capture run eagerly, unpadded.
  kOn,
  // As kOn, padded, but never captured: the eager twin of kOn (tests compare
  // the two bit for bit; on the CPU it must equal kOff).
  kPaddedEager,
};

struct ModelOptions {
  ResidentWeightOptions weights = {};  // for a backend whose memory is not the host's
  DecodeGraphs decode_graphs = DecodeGraphs::kOff;
  int64_t max_graph_batch = 64;
};

class Model {
 public:
  // Checks the weights against the shape and keeps `source` alive (the
  // weights point into it). `backend` and `comm` must outlive the model;
  // `comm` is the rank's group, required when plan.tp > 1 and optional at
  // tp 1 (a group of one; INVALID_ARGUMENT when missing or of another size
  // or rank). A backend whose memory is not the host's gets a copy of the
  // weights here (options.weights).
  static absl::StatusOr<std::unique_ptr<Model>> Create(std::unique_ptr<TensorSource> source,
                                                       const ShardPlan& plan, Backend* backend,
                                                       Communicator* comm = nullptr,
                                                       const ModelOptions& options = {});
  ~Model();

  const ModelConfig& config() const { return source_->config(); }
  const ShardPlan& plan() const { return plan_; }
  const std::string& fingerprint() const { return source_->fingerprint(); }
  Backend* backend() const { return backend_; }
  // Rank 0 of a group (tp > 1): Forward and CopyKvBlocks first broadcast
  // their StepPlan to the other ranks, which run RunFollower (tp_follower.h).
  bool leads_group() const { return comm_ != nullptr && plan_.rank == 0; }
  // The KV heads a sequence's bounded policy tracks, and that the batch's
  // per-head arrays span: all of the model's, since rank 0's KV manager
  // decides every rank's h2o evictions (rank_heads.h).
  int64_t policy_kv_heads() const { return config().num_kv_heads; }
  // Wall time spent in all-reduces since the model was created (0 at tp 1).
  int64_t allreduce_ns() const { return allreduce_ns_; }
  // OK, or the first failure of this rank's group communication (a rank
  // gone or stuck), as UNAVAILABLE: the group cannot step again and the
  // process should end.
  const absl::Status& group_status() const { return group_status_; }
  // Bytes of step plans this leader has broadcast (0 unless it leads).
  int64_t plan_bytes_sent() const { return plan_bytes_sent_; }
  // Backend memory held by the weights' copy (0 when the backend reads the
  // model file's mapping).
  int64_t resident_weight_bytes() const { return weights_.bytes(); }
  // Decode steps replayed from a capture, and captures made (DecodeGraphs::kOn).
  int64_t graph_replays() const { return graph_replays_; }
  int64_t graph_captures() const { return graph_captures_; }

  // Runs the step: writes each token's K/V into `kv_layers[layer]` at its slot,
  // and fills `logits` with [batch.logit_token_idx.size(), vocab] rows.
  // `kv_layers` has one view per layer (this rank's KV heads). When the
  // batch asks for column sums (h2o), `column_sums` receives them,
  // [num_layers, batch.column_sums_per_layer].
  // INVALID_ARGUMENT for a malformed batch (ids outside the vocabulary,
  // inconsistent sizes, slots outside the cache); with tp > 1 every rank
  // must run the same batch, and a failed all-reduce (a rank gone or stuck)
  // returns the Communicator's UNAVAILABLE or DEADLINE_EXCEEDED.
  absl::Status Forward(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                       std::vector<float>& logits, std::vector<float>* column_sums = nullptr);

  // The copy-on-write block copies before a step, in every layer (on every
  // rank when this rank leads a group).
  absl::Status CopyKvBlocks(const std::vector<PagedKvView>& kv_layers,
                            const std::vector<KvBlockCopy>& copies);

  // Leader only (no-ops otherwise): tells idle followers the group is alive
  // (call more often than the communicator's timeout), or that it ends.
  // UNAVAILABLE / DEADLINE_EXCEEDED when a follower is gone.
  absl::Status Heartbeat();
  absl::Status EndGroup();

 private:
  Model(std::unique_ptr<TensorSource> source, const ShardPlan& plan, const ModelOptions& options,
        ModelWeights host_weights, ResidentWeights weights, Backend* backend, Communicator* comm)
      : source_(std::move(source)),
        plan_(plan),
        options_(options),
        host_weights_(std::move(host_weights)),
        weights_(std::move(weights)),
        backend_(backend),
        comm_(comm),
        plan_encoder_(source_->config().num_kv_heads),
        rank_heads_(source_->config().num_kv_heads, plan.kv_head_begin, plan.num_kv_heads) {}

  // The weights the backend's ops read.
  const ModelWeights& weights() const { return weights_.views(); }

  absl::Status BroadcastPlan(std::string bytes);
  // Records the first failure of a collective; returns it as UNAVAILABLE.
  absl::Status NoteGroupStatus(absl::Status status);
  absl::Status ValidateBatch(const ForwardBatch& batch, size_t num_kv_layers) const;
  absl::Status AttentionBlock(const ForwardBatch& batch, int64_t layer_index,
                              const PagedKvView& kv, float* column_sums, float* x);
  absl::Status MlpBlock(const LayerWeights& layer, int64_t num_tokens, float* x);
  // The step's device work, from the embedding to the LM head, over the
  // uploaded arrays; `*logits` receives where the logit rows are.
  absl::Status Enqueue(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                       float* column_sums, float** logits);

  // A decode shape that is captured once and replayed (DecodeGraphs).
  struct GraphKey {
    int64_t tokens = 0;
    int64_t blocks = 0;          // padded block-table width
    const void* cache = nullptr;  // layer 0's K: another cache is another capture
    bool operator<(const GraphKey& o) const {
      return std::tie(tokens, blocks, cache) < std::tie(o.tokens, o.blocks, o.cache);
    }
  };
  struct Graph {
    int64_t id = 0;      // Backend::Replay id
    int64_t epoch = 0;   // MemoryEpoch() when captured
    float* logits = nullptr;
  };
  // nullopt: the step runs eagerly as it is.
  std::optional<GraphKey> GraphKeyFor(const ForwardBatch& batch,
                                      const std::vector<PagedKvView>& kv_layers) const;
  absl::Status RunCaptured(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                           const GraphKey& key, float** logits);
  // Changes whenever memory a capture points at may have moved.
  int64_t MemoryEpoch() const;
  // x += in * w^T summed over the group: w is this rank's column slice of a
  // row-parallel projection, in [num_tokens, w.cols], x [num_tokens, w.rows].
  absl::Status RowParallelGemm(const float* in, const WeightView& w, int64_t num_tokens, float* x);

  std::unique_ptr<TensorSource> source_;
  ShardPlan plan_;
  const ModelOptions options_;
  ModelWeights host_weights_;  // views into source_
  ResidentWeights weights_;    // host_weights_ itself on host memory, else copies
  Backend* backend_;
  Communicator* comm_;  // null at tp 1 without a group
  StepPlanEncoder plan_encoder_;  // the leader's: what its followers hold
  RankHeads rank_heads_;          // this rank's view of the per-head arrays
  ForwardBatch rank_batch_;       // the step as this rank runs it (when RankHeads splits it)
  std::vector<float> rank_sums_;  // its column sums, this rank's heads only
  int64_t allreduce_ns_ = 0;
  int64_t plan_bytes_sent_ = 0;
  absl::Status group_status_;
  // The step's index arrays in backend memory (StepArrays::Upload per step).
  StepArrays arrays_;
  // Step activations in backend memory, grown as needed: [num_tokens, width]
  // each; last_ and logits_ [logit rows, hidden / vocab], sums_ the column sums.
  BackendArray x_, normed_, q_, q_sink_, k_, v_, attn_, gate_, up_, partial_, last_, logits_,
      sums_;
  // Host staging of the all-reduce when the backend's memory is not the host's.
  std::vector<float> host_partial_;
  std::map<GraphKey, Graph> graphs_;
  bool graphs_failed_ = false;  // a capture failed: decode steps run eagerly from then on
  int64_t graph_replays_ = 0, graph_captures_ = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_MODEL_H_
