#include "worker/engine/model.h"

#include <chrono>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "worker/engine/step_builder.h"

namespace gqa {

absl::StatusOr<std::unique_ptr<Model>> Model::Create(
    std::unique_ptr<TensorSource> source, const ShardPlan& plan, Backend* backend,
    Communicator* comm, const ModelOptions& options) {
  RETURN_IF_ERROR(source->config().Validate());
  // At tp 1 a communicator is optional: a group of one (an NCCL group of
  // one GPU) runs every collective of the tp > 1 path.
  if ((plan.tp > 1 || comm != nullptr) &&
      (comm == nullptr || comm->size() != plan.tp || comm->rank() != plan.rank)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model: rank ", plan.rank, " of tp=", plan.tp, " needs its group's communicator, got ",
        comm == nullptr ? "none" : absl::StrCat("rank ", comm->rank(), " of ", comm->size())));
  }
  if (options.max_graph_batch < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: max_graph_batch=", options.max_graph_batch, " is negative"));
  }
  ASSIGN_OR_RETURN(ModelWeights weights, ModelWeights::Load(*source, plan));
  ASSIGN_OR_RETURN(ResidentWeights resident,
                   ResidentWeights::Create(weights, *backend, options.weights));
  return std::unique_ptr<Model>(new Model(std::move(source), plan, options, std::move(weights),
                                          std::move(resident), backend, comm));
}

Model::~Model() {
  for (const auto& [key, graph] : graphs_) backend_->ReleaseCapture(graph.id);
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
  if (num_kv_layers != weights().layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("forward: ", num_kv_layers, " KV layers for a ",
                                                   weights().layers.size(), "-layer model"));
  }
  const size_t layers = weights().layers.size();
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
  const bool local = rank_heads_.Splits(model_batch);
  if (local) rank_heads_.Localize(model_batch, rank_batch_);
  const ForwardBatch& batch = local ? rank_batch_ : model_batch;
  const bool want_sums = !batch.column_sum_offsets.empty();
  if (want_sums && column_sums == nullptr) {
    return absl::InvalidArgumentError("forward: the batch wants column sums and has no output");
  }
  // Decode shapes under DecodeGraphs run with their block table padded.
  const std::optional<GraphKey> key = GraphKeyFor(batch, kv_layers);
  ForwardBatch padded;
  const ForwardBatch& run = key.has_value() ? padded : batch;
  if (key.has_value()) {
    padded = batch;
    padded.max_blocks_per_seq = key->blocks;
    padded.block_tables.assign(batch.num_seqs * key->blocks, 0);
    for (int64_t s = 0; s < batch.num_seqs; ++s) {
      std::copy_n(batch.block_tables.begin() + s * batch.max_blocks_per_seq,
                  batch.max_blocks_per_seq, padded.block_tables.begin() + s * key->blocks);
    }
  }
  RETURN_IF_ERROR(arrays_.Upload(run, plan_.num_kv_heads, kv_layers[0].block_size, *backend_));
  const int64_t num_layers = static_cast<int64_t>(weights().layers.size());
  const int64_t num_sums = num_layers * batch.column_sums_per_layer;
  float* sums = nullptr;
  if (want_sums) {
    ASSIGN_OR_RETURN(sums, sums_.Reserve(*backend_, num_sums));
    RETURN_IF_ERROR(backend_->SetZero(sums, num_sums * 4));
  }
  float* out = nullptr;
  if (key.has_value() && options_.decode_graphs == DecodeGraphs::kOn) {
    RETURN_IF_ERROR(RunCaptured(run, kv_layers, *key, &out));
  } else {
    RETURN_IF_ERROR(Enqueue(run, kv_layers, sums, &out));
  }
  // The host sampler reads the logits (and the KV manager the column sums).
  const int64_t num_logits = static_cast<int64_t>(batch.logit_token_idx.size());
  const int64_t vocab = config().vocab_size;
  logits.resize(num_logits * vocab);
  RETURN_IF_ERROR(backend_->CopyToHost(logits.data(), out, num_logits * vocab * 4));
  std::vector<float>* host_sums = local ? &rank_sums_ : column_sums;
  if (want_sums) {
    host_sums->resize(num_sums);
    RETURN_IF_ERROR(backend_->CopyToHost(host_sums->data(), sums, num_sums * 4));
  }
  RETURN_IF_ERROR(backend_->Synchronize());
  if (want_sums && comm_ != nullptr) {
    // Each rank has its own heads' sums; put in the model-wide layout and
    // summed over the group they are every head's (and a replicated head's
    // over all of its query heads). One collective for all layers.
    if (local) {
      column_sums->assign(num_layers * model_batch.column_sums_per_layer, 0.0f);
      rank_heads_.ScatterColumnSums(model_batch, rank_sums_, *column_sums);
    }
    RETURN_IF_ERROR(NoteGroupStatus(comm_->AllReduceSum(absl::MakeSpan(*column_sums))));
  }
  return absl::OkStatus();
}

absl::Status Model::Enqueue(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                            float* sums, float** logits) {
  const StepArrayViews& a = arrays_.views();
  const ModelConfig& c = config();
  const int64_t t = batch.num_tokens(), hidden = c.hidden_size;
  ASSIGN_OR_RETURN(float* x, x_.Reserve(*backend_, t * hidden));
  RETURN_IF_ERROR(backend_->Embedding({weights().token_embedding, a.token_ids, x, t}));
  for (size_t l = 0; l < weights().layers.size(); ++l) {
    float* layer_sums = sums != nullptr ? sums + l * batch.column_sums_per_layer : nullptr;
    RETURN_IF_ERROR(AttentionBlock(batch, static_cast<int64_t>(l), kv_layers[l], layer_sums, x));
    RETURN_IF_ERROR(MlpBlock(weights().layers[l], t, x));
  }
  // Final norm and LM head only for the tokens whose logits are wanted.
  const int64_t num_logits = static_cast<int64_t>(batch.logit_token_idx.size());
  ASSIGN_OR_RETURN(float* last, last_.Reserve(*backend_, num_logits * hidden));
  RETURN_IF_ERROR(backend_->GatherRows({x, a.logit_token_idx, last, t, num_logits, hidden}));
  RETURN_IF_ERROR(backend_->RmsNorm({last, weights().final_norm, last, num_logits, hidden,
                                     static_cast<float>(c.norm_eps)}));
  ASSIGN_OR_RETURN(float* out, logits_.Reserve(*backend_, num_logits * c.vocab_size));
  RETURN_IF_ERROR(backend_->Gemm({last, weights().lm_head, out, num_logits, false}));
  *logits = out;
  return absl::OkStatus();
}

std::optional<Model::GraphKey> Model::GraphKeyFor(const ForwardBatch& b,
                                                  const std::vector<PagedKvView>& kv_layers) const {
  if (options_.decode_graphs == DecodeGraphs::kOff || comm_ != nullptr) return std::nullopt;
  if (options_.decode_graphs == DecodeGraphs::kOn && (!backend_->supports_capture() || graphs_failed_)) {
    return std::nullopt;
  }
  const int64_t t = b.num_tokens();
  if (t > options_.max_graph_batch || t != b.num_seqs ||
      static_cast<int64_t>(b.logit_token_idx.size()) != t || !b.num_sinks.empty() ||
      !b.recent_window.empty() || !b.slot_positions.empty() || !b.sink_positions.empty() ||
      !b.head_slot_mapping.empty() || !b.column_sum_offsets.empty()) {
    return std::nullopt;
  }
  for (int64_t i = 0; i < t; ++i) {
    if (b.logit_token_idx[i] != i) return std::nullopt;
  }
  int64_t blocks = 8;
  while (blocks < b.max_blocks_per_seq) blocks *= 2;
  return GraphKey{t, blocks, kv_layers[0].k};
}

int64_t Model::MemoryEpoch() const {
  int64_t epoch = backend_->memory_epoch() + arrays_.generation();
  for (const BackendArray* a : {&x_, &normed_, &q_, &q_sink_, &k_, &v_, &attn_, &gate_, &up_,
                                &partial_, &last_, &logits_, &sums_}) {
    epoch += a->generation();
  }
  return epoch;
}

absl::Status Model::RunCaptured(const ForwardBatch& batch, const std::vector<PagedKvView>& kv_layers,
                                const GraphKey& key, float** logits) {
  const int64_t epoch = MemoryEpoch();
  auto it = graphs_.find(key);
  if (it != graphs_.end() && it->second.epoch == epoch) {
    ++graph_replays_;
    *logits = it->second.logits;
    return backend_->Replay(it->second.id);
  }
  // This step runs eagerly (which also grows every buffer to its shape); the
  // capture after it records the same work for the next step of this shape.
  RETURN_IF_ERROR(Enqueue(batch, kv_layers, nullptr, logits));
  if (MemoryEpoch() != epoch) return absl::OkStatus();  // buffers moved: capture next time
  RETURN_IF_ERROR(backend_->BeginCapture());
  float* captured_logits = nullptr;
  const absl::Status recorded = Enqueue(batch, kv_layers, nullptr, &captured_logits);
  absl::StatusOr<int64_t> id = backend_->EndCapture();
  if (!recorded.ok() || !id.ok() || MemoryEpoch() != epoch || captured_logits != *logits) {
    // NOTE: the eager run above already produced this step; a capture that
    // fails only costs the graphs (decode runs eagerly from then on).
    if (id.ok()) backend_->ReleaseCapture(*id);
    LOG(WARNING) << "decode graphs off: the capture of " << key.tokens << " tokens x "
                 << key.blocks << " blocks failed (" << (recorded.ok() ? id.status() : recorded)
                 << "); decode steps run eagerly";
    graphs_failed_ = true;
    return absl::OkStatus();
  }
  if (it != graphs_.end()) backend_->ReleaseCapture(it->second.id);
  graphs_[key] = Graph{*id, epoch, captured_logits};
  ++graph_captures_;
  return absl::OkStatus();
}

absl::Status Model::AttentionBlock(const ForwardBatch& batch, int64_t layer_index,
                                   const PagedKvView& kv, float* column_sums, float* x) {
  const LayerWeights& layer = weights().layers[layer_index];
  const ModelConfig& c = config();
  const int64_t t = batch.num_tokens(), hidden = c.hidden_size, dim = c.head_dim;
  const int64_t q_width = plan_.num_q_heads * dim, kv_width = plan_.num_kv_heads * dim;
  const StepArrayViews& a = arrays_.views();
  ASSIGN_OR_RETURN(float* normed, normed_.Reserve(*backend_, t * hidden));
  ASSIGN_OR_RETURN(float* q, q_.Reserve(*backend_, t * q_width));
  ASSIGN_OR_RETURN(float* k, k_.Reserve(*backend_, t * kv_width));
  ASSIGN_OR_RETURN(float* v, v_.Reserve(*backend_, t * kv_width));
  ASSIGN_OR_RETURN(float* attn, attn_.Reserve(*backend_, t * q_width));
  RETURN_IF_ERROR(backend_->RmsNorm({x, layer.attn_norm, normed, t, hidden,
                                     static_cast<float>(c.norm_eps)}));
  RETURN_IF_ERROR(backend_->Gemm({normed, layer.wq, q, t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed, layer.wk, k, t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed, layer.wv, v, t, false}));
  RopeParams rope;
  rope.q = q;
  rope.k = k;
  rope.positions = a.positions;
  rope.num_tokens = t;
  rope.num_q_heads = plan_.num_q_heads;
  rope.num_kv_heads = plan_.num_kv_heads;
  rope.head_dim = dim;
  rope.theta = c.rope_theta;
  rope.scaling = c.rope_scaling;
  rope.interleaved_pairs = source_->rope_layout() == RopeLayout::kInterleavedPairs;
  const bool has_sinks = !batch.sink_positions.empty();
  float* q_sink = nullptr;
  if (has_sinks) {
    // StreamingLLM: the query rotated to its position in the cache, for the
    // sink slots (docs/kv-cache.md); keys never move.
    ASSIGN_OR_RETURN(q_sink, q_sink_.Reserve(*backend_, t * q_width));
    RETURN_IF_ERROR(backend_->CopyWithin(q_sink, q, t * q_width * 4));
    RopeParams sink_rope = rope;
    sink_rope.q = q_sink;
    sink_rope.k = nullptr;
    sink_rope.num_kv_heads = 0;
    sink_rope.positions = a.sink_positions;
    RETURN_IF_ERROR(backend_->Rope(sink_rope));
  }
  RETURN_IF_ERROR(backend_->Rope(rope));
  KvWriteParams write{k, v, a.slot_mapping, t, kv};
  if (!batch.head_slot_mapping.empty()) {
    write.head_slot_mapping = a.head_slot_mapping + layer_index * t * plan_.num_kv_heads;
  }
  RETURN_IF_ERROR(backend_->WriteKv(write));
  AttentionParams attention;
  attention.q = q;
  attention.out = attn;
  attention.seq_idx = a.seq_idx;
  attention.context_lens = a.context_lens;
  attention.block_tables = a.block_tables;
  attention.num_seqs = batch.num_seqs;
  attention.max_blocks_per_seq = batch.max_blocks_per_seq;
  attention.num_tokens = t;
  attention.num_q_heads = plan_.num_q_heads;
  attention.cache = kv;
  attention.softmax_scale = 1.0f / std::sqrt(static_cast<float>(dim));
  if (!batch.slot_positions.empty()) {
    attention.query_positions = a.positions;
    attention.slot_positions = a.slot_positions + layer_index * batch.num_seqs;
  }
  if (!batch.num_sinks.empty()) attention.num_sinks = a.num_sinks;
  if (!batch.recent_window.empty()) attention.recent_window = a.recent_window;
  if (has_sinks) attention.q_sink = q_sink;
  if (column_sums != nullptr) {
    attention.column_sums = column_sums;
    attention.column_sum_offsets = a.column_sum_offsets;
  }
  RETURN_IF_ERROR(backend_->PagedAttention(attention));
  return RowParallelGemm(attn, layer.wo, t, x);
}

absl::Status Model::MlpBlock(const LayerWeights& layer, int64_t t, float* x) {
  const ModelConfig& c = config();
  const int64_t hidden = c.hidden_size, ffn = plan_.ffn_size;
  ASSIGN_OR_RETURN(float* normed, normed_.Reserve(*backend_, t * hidden));
  ASSIGN_OR_RETURN(float* gate, gate_.Reserve(*backend_, t * ffn));
  ASSIGN_OR_RETURN(float* up, up_.Reserve(*backend_, t * ffn));
  RETURN_IF_ERROR(backend_->RmsNorm({x, layer.ffn_norm, normed, t, hidden,
                                     static_cast<float>(c.norm_eps)}));
  RETURN_IF_ERROR(backend_->Gemm({normed, layer.w_gate, gate, t, false}));
  RETURN_IF_ERROR(backend_->Gemm({normed, layer.w_up, up, t, false}));
  RETURN_IF_ERROR(backend_->SwiGlu({gate, up, gate, t, ffn}));
  return RowParallelGemm(gate, layer.w_down, t, x);
}

absl::Status Model::RowParallelGemm(const float* in, const WeightView& w, int64_t t, float* x) {
  if (comm_ == nullptr) return backend_->Gemm({in, w, x, t, /*accumulate=*/true});
  // NOTE: each rank's product is a partial sum over its columns; the group
  // sums them before the residual add, so every rank's x stays identical.
  const int64_t n = t * w.rows;
  ASSIGN_OR_RETURN(float* partial, partial_.Reserve(*backend_, n));
  RETURN_IF_ERROR(backend_->Gemm({in, w, partial, t, /*accumulate=*/false}));
  RETURN_IF_ERROR(backend_->Synchronize());
  // The Communicator sums host spans. NOTE: on a device backend the partial
  // sums are staged through the host (a copy each way per all-reduce); an
  // NCCL communicator would all-reduce `partial` in device memory directly.
  const bool staged = !backend_->memory_is_host();
  absl::Span<float> sum = absl::MakeSpan(partial, n);
  if (staged) {
    host_partial_.resize(n);
    RETURN_IF_ERROR(backend_->CopyToHost(host_partial_.data(), partial, n * 4));
    sum = absl::MakeSpan(host_partial_);
  }
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(NoteGroupStatus(comm_->AllReduceSum(sum)));
  allreduce_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  if (staged) RETURN_IF_ERROR(backend_->CopyFromHost(partial, host_partial_.data(), n * 4));
  return backend_->Add(x, partial, n);
}

}  // namespace gqa
