#include "worker/backend/cuda/backend_llama.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/half.h"
#include "core/status.h"

namespace gqa {
namespace {

int64_t BlocksPerSeq(const LlamaShape& s) { return (s.max_context + 15) / 16; }

}  // namespace

absl::StatusOr<void*> BackendLlama::Buffer(int64_t bytes) {
  ASSIGN_OR_RETURN(std::unique_ptr<BackendBuffer> buffer, backend_->Allocate(bytes));
  void* data = buffer->data();
  buffers_.push_back(std::move(buffer));
  return data;
}

// N(0, 1/cols) weights: a [rows, cols] matrix in the shape's format.
absl::StatusOr<WeightView> BackendLlama::RandomWeight(int64_t rows, int64_t cols, uint32_t seed) {
  const WeightFormat format = shape_.weight_format;
  const int64_t bytes = RowBytes(format, cols) * rows;
  ASSIGN_OR_RETURN(void* data, Buffer(bytes));
  // A pattern of at most 256K values, encoded once and repeated: enough
  // randomness for the tests' small matrices, and an 8B-parameter benchmark
  // model is built at memcpy speed.
  const int64_t n = rows * cols, pattern = std::min<int64_t>(n, int64_t{1} << 18);
  const int64_t elem = format == WeightFormat::kF32 ? 4 : 2;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
  std::vector<uint8_t> encoded(pattern * elem);
  for (int64_t i = 0; i < pattern; ++i) {
    const float v = dist(rng);
    if (format == WeightFormat::kF32) {
      std::memcpy(encoded.data() + 4 * i, &v, 4);
    } else {
      const uint16_t bits = FloatToBf16(v);
      std::memcpy(encoded.data() + 2 * i, &bits, 2);
    }
  }
  std::vector<uint8_t> host(std::min<int64_t>(bytes, int64_t{64} << 20));
  for (int64_t done = 0; done < n;) {
    const int64_t count = std::min<int64_t>(n - done, static_cast<int64_t>(host.size()) / elem);
    for (int64_t i = 0; i < count;) {  // element done + i is pattern element (done + i) % pattern
      const int64_t from = (done + i) % pattern, run = std::min(count - i, pattern - from);
      std::memcpy(host.data() + i * elem, encoded.data() + from * elem, run * elem);
      i += run;
    }
    RETURN_IF_ERROR(
        to_backend_(static_cast<uint8_t*>(data) + done * elem, host.data(), count * elem));
    done += count;
  }
  weight_bytes_ += bytes;
  return WeightView{format, data, rows, cols, 0};
}

absl::StatusOr<float*> BackendLlama::Ones(int64_t n) {
  ASSIGN_OR_RETURN(void* data, Buffer(n * 4));
  const std::vector<float> ones(n, 1.0f);
  RETURN_IF_ERROR(to_backend_(data, ones.data(), n * 4));
  return static_cast<float*>(data);
}

absl::StatusOr<std::unique_ptr<BackendLlama>> BackendLlama::Create(Backend* backend,
                                                                   BackendCopy to_backend,
                                                                   BackendCopy to_host,
                                                                   const LlamaShape& s,
                                                                   uint32_t seed) {
  if (s.weight_format != WeightFormat::kF32 && s.weight_format != WeightFormat::kBF16) {
    return absl::InvalidArgumentError("BackendLlama: weights must be f32 or bf16");
  }
  std::unique_ptr<BackendLlama> m(
      new BackendLlama(backend, std::move(to_backend), std::move(to_host), s));
  const int64_t qw = s.q_heads * s.head_dim, kvw = s.kv_heads * s.head_dim;
  for (int64_t l = 0; l < s.num_layers; ++l) {
    Layer layer;
    const uint32_t base = seed + 16 * static_cast<uint32_t>(l);
    ASSIGN_OR_RETURN(layer.wq, m->RandomWeight(qw, s.hidden, base + 1));
    ASSIGN_OR_RETURN(layer.wk, m->RandomWeight(kvw, s.hidden, base + 2));
    ASSIGN_OR_RETURN(layer.wv, m->RandomWeight(kvw, s.hidden, base + 3));
    ASSIGN_OR_RETURN(layer.wo, m->RandomWeight(s.hidden, qw, base + 4));
    ASSIGN_OR_RETURN(layer.w_gate, m->RandomWeight(s.ffn, s.hidden, base + 5));
    ASSIGN_OR_RETURN(layer.w_up, m->RandomWeight(s.ffn, s.hidden, base + 6));
    ASSIGN_OR_RETURN(layer.w_down, m->RandomWeight(s.hidden, s.ffn, base + 7));
    ASSIGN_OR_RETURN(layer.attn_norm, m->Ones(s.hidden));
    ASSIGN_OR_RETURN(layer.ffn_norm, m->Ones(s.hidden));
    m->layers_.push_back(layer);
  }
  ASSIGN_OR_RETURN(m->embedding_, m->RandomWeight(s.vocab, s.hidden, seed + 1000));
  ASSIGN_OR_RETURN(m->lm_head_, m->RandomWeight(s.vocab, s.hidden, seed + 1001));
  ASSIGN_OR_RETURN(m->final_norm_, m->Ones(s.hidden));
  RETURN_IF_ERROR(m->AllocateState());
  return m;
}

absl::Status BackendLlama::AllocateState() {
  const LlamaShape& s = shape_;
  const int64_t qw = s.q_heads * s.head_dim, kvw = s.kv_heads * s.head_dim;
  const int64_t blocks = s.max_seqs * BlocksPerSeq(s);
  for (Layer& layer : layers_) {
    const int64_t slots = blocks * s.kv_heads * 16;
    layer.kv = PagedKvView{nullptr, nullptr,    nullptr,    nullptr, s.kv_dtype,
                           blocks,  s.kv_heads, s.head_dim, 16};
    ASSIGN_OR_RETURN(layer.kv.k, Buffer(slots * s.head_dim * DTypeSize(s.kv_dtype)));
    ASSIGN_OR_RETURN(layer.kv.v, Buffer(slots * s.head_dim * DTypeSize(s.kv_dtype)));
    if (IsFp8(s.kv_dtype)) {
      ASSIGN_OR_RETURN(void* ks, Buffer(slots * 4));
      ASSIGN_OR_RETURN(void* vs, Buffer(slots * 4));
      layer.kv.k_scale = static_cast<float*>(ks);
      layer.kv.v_scale = static_cast<float*>(vs);
    }
  }
  const int64_t t = s.max_tokens;
  float** floats[] = {&x_, &normed_, &q_, &k_, &v_, &attn_, &gate_, &up_, &logits_};
  const int64_t widths[] = {s.hidden, s.hidden, qw, kvw, kvw, qw, s.ffn, s.ffn, s.vocab};
  for (int i = 0; i < 9; ++i) {
    ASSIGN_OR_RETURN(void* data, Buffer(t * widths[i] * 4));
    *floats[i] = static_cast<float*>(data);
  }
  int32_t** ints[] = {&ids_, &positions_, &seq_idx_, &context_lens_};
  for (int32_t** p : ints) {
    ASSIGN_OR_RETURN(void* data, Buffer(t * 4));
    *p = static_cast<int32_t*>(data);
  }
  ASSIGN_OR_RETURN(void* slots, Buffer(t * 8));
  slots_ = static_cast<int64_t*>(slots);
  std::vector<int32_t> tables(blocks);  // sequence s owns blocks [s * per_seq, (s + 1) * per_seq)
  for (int64_t b = 0; b < blocks; ++b) tables[b] = static_cast<int32_t>(b);
  ASSIGN_OR_RETURN(void* table_data, Buffer(blocks * 4));
  block_tables_ = static_cast<int32_t*>(table_data);
  return to_backend_(table_data, tables.data(), blocks * 4);
}

absl::StatusOr<WeightView> BackendLlama::UploadWeight(const WeightView& host, int64_t rows,
                                                      int64_t cols) {
  if (host.format != shape_.weight_format || host.rows != rows || host.cols != cols ||
      (host.row_stride_bytes != 0 && host.row_stride_bytes != RowBytes(host.format, cols))) {
    return absl::InvalidArgumentError(
        absl::StrCat("BackendLlama: weight [", host.rows, ", ", host.cols, "] ",
                     WeightFormatName(host.format), " where [", rows, ", ", cols, "] ",
                     WeightFormatName(shape_.weight_format), " packed is expected"));
  }
  const int64_t bytes = rows * RowBytes(host.format, cols);
  ASSIGN_OR_RETURN(void* data, Buffer(bytes));
  RETURN_IF_ERROR(to_backend_(data, host.data, bytes));
  weight_bytes_ += bytes;
  return WeightView{host.format, data, rows, cols, 0};
}

absl::StatusOr<float*> BackendLlama::UploadNorm(const float* host) {
  ASSIGN_OR_RETURN(void* data, Buffer(shape_.hidden * 4));
  RETURN_IF_ERROR(to_backend_(data, host, shape_.hidden * 4));
  return static_cast<float*>(data);
}

absl::StatusOr<std::unique_ptr<BackendLlama>> BackendLlama::CreateFromHost(
    Backend* backend, BackendCopy to_backend, BackendCopy to_host, const LlamaShape& s,
    const LlamaHostWeights& w) {
  if (static_cast<int64_t>(w.layers.size()) < s.num_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("BackendLlama: ", w.layers.size(), " layers, ", s.num_layers, " wanted"));
  }
  std::unique_ptr<BackendLlama> m(
      new BackendLlama(backend, std::move(to_backend), std::move(to_host), s));
  const int64_t qw = s.q_heads * s.head_dim, kvw = s.kv_heads * s.head_dim;
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const LlamaHostWeights::Layer& h = w.layers[l];
    Layer layer;
    ASSIGN_OR_RETURN(layer.wq, m->UploadWeight(h.wq, qw, s.hidden));
    ASSIGN_OR_RETURN(layer.wk, m->UploadWeight(h.wk, kvw, s.hidden));
    ASSIGN_OR_RETURN(layer.wv, m->UploadWeight(h.wv, kvw, s.hidden));
    ASSIGN_OR_RETURN(layer.wo, m->UploadWeight(h.wo, s.hidden, qw));
    ASSIGN_OR_RETURN(layer.w_gate, m->UploadWeight(h.w_gate, s.ffn, s.hidden));
    ASSIGN_OR_RETURN(layer.w_up, m->UploadWeight(h.w_up, s.ffn, s.hidden));
    ASSIGN_OR_RETURN(layer.w_down, m->UploadWeight(h.w_down, s.hidden, s.ffn));
    ASSIGN_OR_RETURN(layer.attn_norm, m->UploadNorm(h.attn_norm));
    ASSIGN_OR_RETURN(layer.ffn_norm, m->UploadNorm(h.ffn_norm));
    m->layers_.push_back(layer);
  }
  ASSIGN_OR_RETURN(m->embedding_, m->UploadWeight(w.token_embedding, s.vocab, s.hidden));
  if (w.lm_head.data == w.token_embedding.data) {
    m->lm_head_ = m->embedding_;  // tied
  } else {
    ASSIGN_OR_RETURN(m->lm_head_, m->UploadWeight(w.lm_head, s.vocab, s.hidden));
  }
  ASSIGN_OR_RETURN(m->final_norm_, m->UploadNorm(w.final_norm));
  RETURN_IF_ERROR(m->AllocateState());
  return m;
}

absl::Status BackendLlama::RunLayer(const Layer& layer, int64_t t) {
  const LlamaShape& s = shape_;
  Backend& b = *backend_;
  RETURN_IF_ERROR(b.RmsNorm({x_, layer.attn_norm, normed_, t, s.hidden, s.norm_eps}));
  RETURN_IF_ERROR(b.Gemm({normed_, layer.wq, q_, t, false}));
  RETURN_IF_ERROR(b.Gemm({normed_, layer.wk, k_, t, false}));
  RETURN_IF_ERROR(b.Gemm({normed_, layer.wv, v_, t, false}));
  RopeParams rope;
  rope.q = q_;
  rope.k = k_;
  rope.positions = positions_;
  rope.num_tokens = t;
  rope.num_q_heads = s.q_heads;
  rope.num_kv_heads = s.kv_heads;
  rope.head_dim = s.head_dim;
  rope.theta = s.rope_theta;
  rope.scaling = s.rope_scaling;
  rope.interleaved_pairs = s.rope_interleaved_pairs;
  RETURN_IF_ERROR(b.Rope(rope));
  RETURN_IF_ERROR(b.WriteKv({k_, v_, slots_, t, layer.kv}));
  AttentionParams a;
  a.q = q_;
  a.out = attn_;
  a.seq_idx = seq_idx_;
  a.context_lens = context_lens_;
  a.block_tables = block_tables_;
  a.num_seqs = s.max_seqs;
  a.max_blocks_per_seq = BlocksPerSeq(s);
  a.num_tokens = t;
  a.num_q_heads = s.q_heads;
  a.cache = layer.kv;
  a.softmax_scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  RETURN_IF_ERROR(b.PagedAttention(a));
  RETURN_IF_ERROR(b.Gemm({attn_, layer.wo, x_, t, true}));
  RETURN_IF_ERROR(b.RmsNorm({x_, layer.ffn_norm, normed_, t, s.hidden, s.norm_eps}));
  RETURN_IF_ERROR(b.Gemm({normed_, layer.w_gate, gate_, t, false}));
  RETURN_IF_ERROR(b.Gemm({normed_, layer.w_up, up_, t, false}));
  RETURN_IF_ERROR(b.SwiGlu({gate_, up_, gate_, t, s.ffn}));
  return b.Gemm({gate_, layer.w_down, x_, t, true});
}

absl::Status BackendLlama::Step(const std::vector<int32_t>& token_ids,
                                const std::vector<int32_t>& seq_idx,
                                const std::vector<int32_t>& positions) {
  const LlamaShape& s = shape_;
  const int64_t t = static_cast<int64_t>(token_ids.size());
  if (t == 0 || t > s.max_tokens || seq_idx.size() != token_ids.size() ||
      positions.size() != token_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("BackendLlama: bad step of ", t, " tokens"));
  }
  std::vector<int32_t> context(t);
  std::vector<int64_t> slots(t);
  for (int64_t i = 0; i < t; ++i) {
    if (seq_idx[i] < 0 || seq_idx[i] >= s.max_seqs || positions[i] < 0 ||
        positions[i] >= s.max_context) {
      return absl::InvalidArgumentError(absl::StrCat("BackendLlama: token ", i, " out of range"));
    }
    context[i] = positions[i] + 1;
    slots[i] = seq_idx[i] * BlocksPerSeq(s) * 16 + positions[i];
  }
  RETURN_IF_ERROR(to_backend_(ids_, token_ids.data(), t * 4));
  RETURN_IF_ERROR(to_backend_(positions_, positions.data(), t * 4));
  RETURN_IF_ERROR(to_backend_(seq_idx_, seq_idx.data(), t * 4));
  RETURN_IF_ERROR(to_backend_(context_lens_, context.data(), t * 4));
  RETURN_IF_ERROR(to_backend_(slots_, slots.data(), t * 8));
  RETURN_IF_ERROR(backend_->Embedding({embedding_, ids_, x_, t}));
  for (const Layer& layer : layers_) RETURN_IF_ERROR(RunLayer(layer, t));
  RETURN_IF_ERROR(backend_->RmsNorm({x_, final_norm_, normed_, t, s.hidden, s.norm_eps}));
  RETURN_IF_ERROR(backend_->Gemm({normed_, lm_head_, logits_, t, false}));
  last_tokens_ = t;
  return backend_->Synchronize();
}

absl::StatusOr<std::vector<float>> BackendLlama::Logits() {
  std::vector<float> logits(last_tokens_ * shape_.vocab);
  RETURN_IF_ERROR(to_host_(logits.data(), logits_, logits.size() * 4));
  return logits;
}

}  // namespace gqa
