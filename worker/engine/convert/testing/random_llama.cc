#include "worker/engine/convert/testing/random_llama.h"

#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/gguf/gguf_writer.h"
#include "core/log.h"

namespace gqa {
namespace {

void AddByteTokenizer(GgufWriter* w) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(absl::StrFormat("<0x%02X>", b));
    types.push_back(6);  // byte
  }
  w->AddString("tokenizer.ggml.model", "llama");
  w->AddStringArray("tokenizer.ggml.tokens", tokens);
  w->AddFloat32Array("tokenizer.ggml.scores", std::vector<float>(tokens.size(), 0.0f));
  w->AddInt32Array("tokenizer.ggml.token_type", types);
  w->AddUint32("tokenizer.ggml.unknown_token_id", 0);
  w->AddUint32("tokenizer.ggml.bos_token_id", 1);
  w->AddUint32("tokenizer.ggml.eos_token_id", 2);
  w->AddBool("tokenizer.ggml.add_bos_token", false);
  w->AddBool("tokenizer.ggml.add_space_prefix", false);
  w->AddString("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}");
}

}  // namespace

std::string RandomLlamaGguf(const RandomLlamaOptions& o) {
  CHECK_EQ(o.num_kv_heads % o.identical_kv_heads, 0);
  const int64_t vocab = o.byte_tokenizer ? 259 : o.vocab_size;
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddString("general.name", "random-test-llama");
  w.AddUint32("general.file_type", 0);
  w.AddUint32("llama.block_count", static_cast<uint32_t>(o.num_layers));
  w.AddUint32("llama.context_length", static_cast<uint32_t>(o.context_tokens));
  w.AddUint32("llama.embedding_length", static_cast<uint32_t>(o.hidden_size));
  w.AddUint32("llama.feed_forward_length", static_cast<uint32_t>(o.intermediate_size));
  w.AddUint32("llama.attention.head_count", static_cast<uint32_t>(o.num_query_heads));
  w.AddUint32("llama.attention.head_count_kv", static_cast<uint32_t>(o.num_kv_heads));
  w.AddFloat32("llama.rope.freq_base", 10000.0f);
  w.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.AddUint32("llama.rope.dimension_count", static_cast<uint32_t>(o.head_dim));
  if (o.byte_tokenizer) {
    AddByteTokenizer(&w);
  } else {
    std::vector<std::string> tokens;
    for (int64_t i = 0; i < vocab; ++i) tokens.push_back(absl::StrCat("t", i));
    w.AddStringArray("tokenizer.ggml.tokens", tokens);
  }

  std::mt19937 rng(o.seed);
  std::normal_distribution<float> weight(0.0f, 0.2f), norm(1.0f, 0.1f);
  auto add = [&](const std::string& name, std::vector<float> values, std::vector<int64_t> shape) {
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());
    w.AddTensor(name, GgmlType::kF32, std::move(shape), bytes);
  };
  // A [rows, cols] matrix, stored ggml-style as shape {cols, rows}.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    std::vector<float> values(rows * cols);
    for (float& v : values) v = weight(rng);
    add(name, std::move(values), {cols, rows});
  };
  auto vector = [&](const std::string& name, int64_t size) {
    std::vector<float> values(size);
    for (float& v : values) v = norm(rng);
    add(name, std::move(values), {size});
  };
  // K or V: head i copies head i - i % identical_kv_heads. `cols` 1 is a bias.
  auto kv = [&](const std::string& name, int64_t cols) {
    const int64_t head_elems = o.head_dim * cols;
    std::vector<float> values(o.num_kv_heads * head_elems);
    for (int64_t head = 0; head < o.num_kv_heads; ++head) {
      const int64_t source = head - head % o.identical_kv_heads;
      for (int64_t e = 0; e < head_elems; ++e) {
        values[head * head_elems + e] =
            source == head ? weight(rng) : values[source * head_elems + e];
      }
    }
    std::vector<int64_t> shape = {o.num_kv_heads * o.head_dim};
    if (cols > 1) shape = {cols, o.num_kv_heads * o.head_dim};
    add(name, std::move(values), shape);
  };
  const int64_t h = o.hidden_size, q = o.num_query_heads * o.head_dim;
  matrix("token_embd.weight", vocab, h);
  for (int64_t l = 0; l < o.num_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    vector(p + "attn_norm.weight", h);
    matrix(p + "attn_q.weight", q, h);
    kv(p + "attn_k.weight", h);
    kv(p + "attn_v.weight", h);
    if (o.with_kv_bias) {
      kv(p + "attn_k.bias", 1);
      kv(p + "attn_v.bias", 1);
    }
    matrix(p + "attn_output.weight", h, q);
    vector(p + "ffn_norm.weight", h);
    matrix(p + "ffn_gate.weight", o.intermediate_size, h);
    matrix(p + "ffn_up.weight", o.intermediate_size, h);
    matrix(p + "ffn_down.weight", h, o.intermediate_size);
  }
  vector("output_norm.weight", h);
  matrix("output.weight", vocab, h);
  absl::StatusOr<std::string> bytes = w.Write();
  CHECK(bytes.ok()) << bytes.status();
  return *std::move(bytes);
}

}  // namespace gqa
