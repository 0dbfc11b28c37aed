#include "worker/engine/testing/tiny_model.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace gqa {

ModelConfig TinyConfig(int64_t num_query_heads, int64_t num_kv_heads) {
  ModelConfig c;
  c.name = absl::StrCat("tiny-q", num_query_heads, "-kv", num_kv_heads);
  c.num_layers = 2;
  c.head_dim = 16;
  c.num_query_heads = num_query_heads;
  c.num_kv_heads = num_kv_heads;
  c.hidden_size = num_query_heads * 16;
  c.intermediate_size = 64;
  c.vocab_size = 97;
  c.context_tokens = 256;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5;
  c.tied_embeddings = false;
  return c;
}

ModelConfig TinyGqa82Config() {
  ModelConfig c = TinyConfig(8, 2);
  c.intermediate_size = 128;
  c.vocab_size = 96;
  return c;
}

absl::StatusOr<RawTensor> MemoryTensorSource::Find(absl::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return absl::NotFoundError(absl::StrCat("no tensor '", name, "'"));
  RawTensor tensor;
  tensor.name = std::string(name);
  tensor.format = WeightFormat::kF32;
  tensor.shape = it->second.shape;
  tensor.bytes = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(it->second.values.data()),
                                     it->second.values.size() * sizeof(float));
  return tensor;
}

void MemoryTensorSource::Put(const std::string& name, std::vector<int64_t> shape,
                             std::vector<float> values) {
  tensors_[name] = Stored{std::move(shape), std::move(values)};
}

std::unique_ptr<MemoryTensorSource> MakeTinyModel(const ModelConfig& c, uint32_t seed,
                                                  RopeLayout layout) {
  auto source = std::make_unique<MemoryTensorSource>(c, layout);
  std::mt19937 rng(seed);
  std::normal_distribution<float> weight(0.0f, 0.2f), norm(1.0f, 0.1f);
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    std::vector<float> values(rows * cols);
    for (float& v : values) v = weight(rng);
    source->Put(name, {rows, cols}, std::move(values));
  };
  auto vector = [&](const std::string& name, int64_t size) {
    std::vector<float> values(size);
    for (float& v : values) v = norm(rng);
    source->Put(name, {size}, std::move(values));
  };
  const int64_t h = c.hidden_size, q = c.num_query_heads * c.head_dim,
                kv = c.num_kv_heads * c.head_dim;
  matrix("token_embd.weight", c.vocab_size, h);
  vector("output_norm.weight", h);
  if (!c.tied_embeddings) matrix("output.weight", c.vocab_size, h);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    vector(p + "attn_norm.weight", h);
    vector(p + "ffn_norm.weight", h);
    matrix(p + "attn_q.weight", q, h);
    matrix(p + "attn_k.weight", kv, h);
    matrix(p + "attn_v.weight", kv, h);
    matrix(p + "attn_output.weight", h, q);
    matrix(p + "ffn_gate.weight", c.intermediate_size, h);
    matrix(p + "ffn_up.weight", c.intermediate_size, h);
    matrix(p + "ffn_down.weight", h, c.intermediate_size);
  }
  return source;
}

}  // namespace gqa
