#include "worker/engine/model.h"

#include <chrono>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "worker/engine/step_builder.h"

namespace gqa {

absl::StatusOr<std::unique_ptr<Model>> Model::Create(std::unique_ptr<TensorSource> source,
                                                     const ShardPlan& plan, Backend* backend,
                                                     Communicator* comm) {
  RETURN_IF_ERROR(source->config().Validate());
  // At tp 1 a communicator is optional: a group of one (an NCCL group of
  // one GPU) runs every collective of the tp > 1 path.
  if ((plan.tp > 1 || comm != nullptr) &&
      (comm == nullptr || comm->size() != plan.tp || comm->rank() != plan.rank)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model: rank ", plan.rank, " of tp=", plan.tp, " needs its group's communicator, got ",
        comm == nullptr ? "none" : absl::StrCat("rank ", comm->rank(), " of ", comm->size())));
  }
  ASSIGN_OR_RETURN(ModelWeights weights, ModelWeights::Load(*source, plan));
  return std::unique_ptr<Model>(
      new Model(std::move(source), plan, std::move(weights), backend, comm));
}

absl::Status Model::ValidateBatch(const ForwardBatch& b, size_t num_kv_layers) const {
  const size_t n = b.token_ids.size();
  if (n == 0) return absl::InvalidArgumentError("forward: empty batch");
  if (b.positions.size() != n || b.seq_idx.size() != n || b.context_lens.size() != n ||
      b.slot_mapping.size() != n) {
    return absl::InvalidArgumentError("forward: per-token arrays differ in length");
  }
  if (b.block_tables.size() != static_cast<size_t>(b.num_seqs * b.max_blocks_per_seq)) {
    return absl::InvalidArgumentError("forward: block table size is not num_seqs x max_blocks");
  }
  if (!b.seq_ids.empty()) {
    if (b.seq_ids.size() != static_cast<size_t>(b.num_seqs)) {
      return absl::InvalidArgumentError("forward: seq_ids is not one id per sequence");
    }
    absl::flat_hash_set<int64_t> ids(b.seq_ids.begin(), b.seq_ids.end());
    if (ids.size() != b.seq_ids.size()) {
      return absl::InvalidArgumentError("forward: a sequence id appears twice in the batch");
    }
  }
  if (num_kv_layers != weights_.layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("forward: ", num_kv_layers, " KV layers for a ",
                                                   weights_.layers.size(), "-layer model"));
  }
  const size_t layers = weights_.layers.size();
  const size_t seqs = static_cast<size_t>(b.num_seqs);
  if ((!b.num_sinks.empty() && b.num_sinks.size() != seqs) ||
      (!b.recent_window.empty() && b.recent_window.size() != seqs) ||
      (!b.slot_positions.empty() && b.slot_positions.size() != layers * seqs) ||
      (!b.sink_positions.empty() && b.sink_positions.size() != n) ||
      (!b.head_slot_mapping.empty() &&
       b.head_slot_mapping.size() != layers * n * static_cast<size_t>(policy_kv_heads())) ||
      (!b.column_sum_offsets.empty() && b.column_sum_offsets.size() != n)) {
    return absl::InvalidArgumentError("forward: bounded-policy arrays do not match the batch");
  }
  for (int32_t idx : b.logit_token_idx) {
    if (idx < 0 || static_cast<size_t>(idx) >= n) {
      return absl::InvalidArgumentError(absl::StrCat("forward: logit token ", idx, " out of range"));
    }
  }
  return absl::OkStatus();
}

absl::Status Model::NoteGroupStatus(absl::Status status) {
  if (status.ok()) return status;
  // A stuck peer's DEADLINE_EXCEEDED is not the caller's deadline: to whoever
  // asked for the step, a broken group is an unavailable worker.
  absl::Status failed = absl::UnavailableError(
      absl::StrCat("the tensor-parallel group failed: ", status.message()));
  if (group_status_.ok()) group_status_ = failed;
  return failed;
}

absl::Status Model::BroadcastPlan(std::string bytes) {
  plan_bytes_sent_ += static_cast<int64_t>(bytes.size());
  return NoteGroupStatus(BroadcastBytes(*comm_, bytes, /*root=*/0));
}

absl::Status Model::CopyKvBlocks(const std::vector<PagedKvView>& kv_layers,
                                 const std::vector<KvBlockCopy>& copies) {
  if (copies.empty()) return absl::OkStatus();
  if (leads_group()) {
    StepPlan plan;
    plan.kind = StepKind::kCopyBlocks;
    plan.copies = copies;
    RETURN_IF_ERROR(BroadcastPlan(StepPlanEncoder::EncodeControl(plan)));
  }
  return CopyBlocks(*backend_, kv_layers, copies);
}

absl::Status Model::Heartbeat() {
  if (!leads_group()) return absl::OkStatus();
  return BroadcastPlan(StepPlanEncoder::EncodeControl(StepPlan{}));
}

absl::Status Model::EndGroup() {
  if (!leads_group()) return absl::OkStatus();
  StepPlan plan;
  plan.kind = StepKind::kShutdown;
  return BroadcastPlan(StepPlanEncoder::EncodeControl(plan));
}

absl::Status Model::Forward(const ForwardBatch& model_batch,
                            const std::vector<PagedKvView>& kv_layers, std::vector<float>& logits,
                            std::vector<float>* column_sums) {
  RETURN_IF_ERROR(ValidateBatch(model_batch, kv_layers.size()));
  if (leads_group()) {
    RETURN_IF_ERROR(BroadcastPlan(plan_encoder_.EncodeForward(model_batch, column_sums != nullptr)));
  }
  // The per-KV-head arrays span the model's heads; this rank runs on its own.
  const bool whole = rank_heads_.whole();
  if (!whole) rank_heads_.Localize(model_batch, rank_batch_);
  const ForwardBatch& batch = whole ? model_batch : rank_batch_;
  const bool want_sums = !batch.column_sum_offsets.empty();
  std::vector<float>* sums = whole ? column_sums : &rank_sums_;
  if (want_sums) {
    if (column_sums == nullptr) {
      return absl::InvalidArgumentError("forward: the batch wants column sums and has no output");
    }
    sums->assign(weights_.layers.size() * batch.column_sums_per_layer, 0.0f);
  }
  const ModelConfig& c = config();
  const int64_t t = batch.num_tokens(), hidden = c.hidden_size;
  std::vector<float> x(t * hidden);
  RETURN_IF_ERROR(backend_->Embedding({weights_.token_embedding, batch.token_ids.data(), x.data(), t}));
  for (size_t l = 0; l < weights_.layers.size(); ++l) {
    float* layer_sums = want_sums ? sums->data() + l * batch.column_sums_per_layer : nullptr;
    RETURN_IF_ERROR(AttentionBlock(batch, static_cast<int64_t>(l), kv_layers[l], layer_sums, x.data()));
    RETURN_IF_ERROR(MlpBlock(weights_.layers[l], t, x.data()));
  }
  if (want_sums && comm_ != nullptr) {
    // Each rank has its own heads' sums; put in the model-wide layout and
    // summed over the group they are every head's (and a replicated head's
    // over all of its query heads). One collective for all layers.
    RETURN_IF_ERROR(backend_->Synchronize());
    if (!whole) {
      column_sums->assign(weights_.layers.size() * model_batch.column_sums_per_layer, 0.0f);
      rank_heads_.ScatterColumnSums(model_batch, rank_sums_, *column_sums);
    }
    RETURN_IF_ERROR(NoteGroupStatus(comm_->AllReduceSum(absl::MakeSpan(*column_sums))));
  }
  // Final norm and LM head only for the tokens whose logits are wanted.
  const int64_t num_logits = static_cast<int64_t>(batch.logit_token_idx.size());
  std::vector<float> last(num_logits * hidden);
  for (int64_t i = 0; i < num_logits; ++i) {
    std::copy_n(x.data() + batch.logit_token_idx[i] * hidden, hidden, last.data() + i * hidden);
  }
  RETURN_IF_ERROR(backend_->RmsNorm({last.data(), weights_.final_norm, last.data(), num_logits,
                                     hidden, static_cast<float>(c.norm_eps)}));
  logits.assign(num_logits * c.vocab_size, 0.0f);
  RETURN_IF_ERROR(backend_->Gemm({last.data(), weights_.lm_head, logits.data(), num_logits, false}));
  return backend_->Synchronize();
}

absl::Status Model::AttentionBlock(const ForwardBatch& batch, int64_t layer_index,
                                   const PagedKvView& kv, float* column_sums, float* x) {
  const LayerWeights& layer = weights_.layers[layer_index];
  const ModelConfig& c = config();
  const int64_t t = batch.num_tokens(), hidden = c.hidden_size, dim = c.head_dim;
  const int64_t q_width = plan_.num_q_heads * dim, kv_width = plan_.num_kv_heads * dim;
  normed_.resize(t * hidden);
  q_.resize(t * q_width);
  k_.resize(t * kv_width);
  v_.resize(t * kv_width);
  attn_.resize(t * q_width);
  RETURN_IF_ERROR(backend_->RmsNorm({x, layer.attn_norm, normed_.data(), t, hidden,
                                     static_cast<float>(c.norm_eps)}));
  RETURN_IF_ERROR(backend_->Gemm({normed_.data(), layer.wq, q_.data(), t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed_.data(), layer.wk, k_.data(), t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed_.data(), layer.wv, v_.data(), t, false}));
  RopeParams rope;
  rope.q = q_.data();
  rope.k = k_.data();
  rope.positions = batch.positions.data();
  rope.num_tokens = t;
  rope.num_q_heads = plan_.num_q_heads;
  rope.num_kv_heads = plan_.num_kv_heads;
  rope.head_dim = dim;
  rope.theta = c.rope_theta;
  rope.scaling = c.rope_scaling;
  rope.interleaved_pairs = source_->rope_layout() == RopeLayout::kInterleavedPairs;
  const bool has_sinks = !batch.sink_positions.empty();
  if (has_sinks) {
    // StreamingLLM: the query rotated to its position in the cache, for the
    // sink slots (docs/kv-cache.md); keys never move.
    q_sink_.assign(q_.begin(), q_.begin() + t * q_width);
    RopeParams sink_rope = rope;
    sink_rope.q = q_sink_.data();
    sink_rope.k = nullptr;
    sink_rope.num_kv_heads = 0;
    sink_rope.positions = batch.sink_positions.data();
    RETURN_IF_ERROR(backend_->Rope(sink_rope));
  }
  RETURN_IF_ERROR(backend_->Rope(rope));
  KvWriteParams write{k_.data(), v_.data(), batch.slot_mapping.data(), t, kv};
  if (!batch.head_slot_mapping.empty()) {
    write.head_slot_mapping = batch.head_slot_mapping.data() + layer_index * t * plan_.num_kv_heads;
  }
  RETURN_IF_ERROR(backend_->WriteKv(write));
  AttentionParams attention;
  attention.q = q_.data();
  attention.out = attn_.data();
  attention.seq_idx = batch.seq_idx.data();
  attention.context_lens = batch.context_lens.data();
  attention.block_tables = batch.block_tables.data();
  attention.num_seqs = batch.num_seqs;
  attention.max_blocks_per_seq = batch.max_blocks_per_seq;
  attention.num_tokens = t;
  attention.num_q_heads = plan_.num_q_heads;
  attention.cache = kv;
  attention.softmax_scale = 1.0f / std::sqrt(static_cast<float>(dim));
  if (!batch.slot_positions.empty()) {
    attention.query_positions = batch.positions.data();
    attention.slot_positions = batch.slot_positions.data() + layer_index * batch.num_seqs;
  }
  if (!batch.num_sinks.empty()) attention.num_sinks = batch.num_sinks.data();
  if (!batch.recent_window.empty()) attention.recent_window = batch.recent_window.data();
  if (has_sinks) attention.q_sink = q_sink_.data();
  if (column_sums != nullptr) {
    attention.column_sums = column_sums;
    attention.column_sum_offsets = batch.column_sum_offsets.data();
  }
  RETURN_IF_ERROR(backend_->PagedAttention(attention));
  return RowParallelGemm(attn_.data(), layer.wo, t, x);
}

absl::Status Model::MlpBlock(const LayerWeights& layer, int64_t t, float* x) {
  const ModelConfig& c = config();
  const int64_t hidden = c.hidden_size, ffn = plan_.ffn_size;
  normed_.resize(t * hidden);
  gate_.resize(t * ffn);
  up_.resize(t * ffn);
  RETURN_IF_ERROR(backend_->RmsNorm({x, layer.ffn_norm, normed_.data(), t, hidden,
                                     static_cast<float>(c.norm_eps)}));
  RETURN_IF_ERROR(backend_->Gemm({normed_.data(), layer.w_gate, gate_.data(), t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed_.data(), layer.w_up, up_.data(), t, false}));
  RETURN_IF_ERROR(backend_->SwiGlu({gate_.data(), up_.data(), gate_.data(), t, ffn}));
  return RowParallelGemm(gate_.data(), layer.w_down, t, x);
}

absl::Status Model::RowParallelGemm(const float* in, const WeightView& w, int64_t t, float* x) {
  if (comm_ == nullptr) return backend_->Gemm({in, w, x, t, /*accumulate=*/true});
  // NOTE: each rank's product is a partial sum over its columns; the group
  // sums them before the residual add, so every rank's x stays identical.
  partial_.resize(t * w.rows);
  RETURN_IF_ERROR(backend_->Gemm({in, w, partial_.data(), t, /*accumulate=*/false}));
  RETURN_IF_ERROR(backend_->Synchronize());
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(NoteGroupStatus(comm_->AllReduceSum(absl::MakeSpan(partial_))));
  allreduce_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  return backend_->Add(x, partial_.data(), t * w.rows);
}

}  // namespace gqa
