#include "core/gguf/gguf_test_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/gguf/gguf_file.h"
#include "core/log.h"

namespace gqa {
namespace {

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int b = 0; b < bytes; ++b) out->push_back(static_cast<char>((v >> (8 * b)) & 0xFF));
}

std::string LengthPrefixed(absl::string_view s) {
  std::string out;
  PutLe(&out, s.size(), 8);
  out.append(s.data(), s.size());
  return out;
}

}  // namespace

std::string PatternBytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

size_t GgmlBytes(GgmlType type, const std::vector<int64_t>& shape) {
  const GgmlTypeTraits traits = GetGgmlTypeTraits(type);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return static_cast<size_t>(n / traits.block_elems * traits.block_bytes);
}

void AddTinyLlama(const TinyLlamaOptions& o, GgufWriter* w) {
  const std::string& a = o.architecture;
  w->AddString("general.architecture", a);
  w->AddString("general.name", "tiny-test-llama");
  w->AddUint32(a + ".block_count", static_cast<uint32_t>(o.num_layers));
  w->AddUint32(a + ".context_length", static_cast<uint32_t>(o.context_tokens));
  w->AddUint32(a + ".embedding_length", static_cast<uint32_t>(o.hidden_size));
  w->AddUint32(a + ".feed_forward_length", static_cast<uint32_t>(o.intermediate_size));
  w->AddUint32(a + ".attention.head_count", static_cast<uint32_t>(o.num_query_heads));
  w->AddUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(o.num_kv_heads));
  w->AddFloat32(a + ".rope.freq_base", 10000.0f);
  w->AddFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w->AddUint32(a + ".rope.dimension_count", static_cast<uint32_t>(o.head_dim));
  if (o.write_tokens) {
    std::vector<std::string> tokens;
    for (int64_t i = 0; i < o.vocab_size; ++i) tokens.push_back(absl::StrCat("t", i));
    w->AddStringArray("tokenizer.ggml.tokens", tokens);
  }
  uint32_t seed = 0;
  auto add = [&](const std::string& name, GgmlType type, std::vector<int64_t> shape) {
    const size_t bytes = GgmlBytes(type, shape);
    w->AddTensor(name, type, std::move(shape), PatternBytes(bytes, ++seed));
  };
  const int64_t h = o.hidden_size;
  const int64_t q = o.num_query_heads * o.head_dim;
  const int64_t kv = o.num_kv_heads * o.head_dim;
  const int64_t f = o.intermediate_size;
  const GgmlType m = o.matrix_type;
  add("token_embd.weight", m, {h, o.vocab_size});
  for (int64_t l = 0; l < o.num_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    add(p + "attn_norm.weight", GgmlType::kF32, {h});
    add(p + "attn_q.weight", m, {h, q});
    add(p + "attn_k.weight", m, {h, kv});
    add(p + "attn_v.weight", m, {h, kv});
    add(p + "attn_output.weight", m, {q, h});
    add(p + "ffn_norm.weight", GgmlType::kF32, {h});
    add(p + "ffn_gate.weight", m, {h, f});
    add(p + "ffn_up.weight", m, {h, f});
    add(p + "ffn_down.weight", m, {f, h});
  }
  add("output_norm.weight", GgmlType::kF32, {h});
  if (!o.tied_embeddings) add("output.weight", m, {h, o.vocab_size});
}

std::string TinyLlamaGguf(const TinyLlamaOptions& options) {
  GgufWriter writer;
  AddTinyLlama(options, &writer);
  absl::StatusOr<std::string> bytes = writer.Write();
  CHECK(bytes.ok()) << bytes.status();
  return *std::move(bytes);
}

std::string EditGguf(const std::string& file, const GgufEdit& edit) {
  absl::StatusOr<GgufFile> parsed =
      ParseGguf({reinterpret_cast<const uint8_t*>(file.data()), file.size()}, "EditGguf input");
  CHECK(parsed.ok()) << parsed.status();
  auto dropped = [](const std::vector<std::string>& list, absl::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  GgufWriter writer(GgufWriterOptions{parsed->version(), parsed->alignment()});
  for (const GgufKv& kv : parsed->metadata()) {
    if (!dropped(edit.drop_keys, kv.key)) writer.AddValue(kv.key, kv.value);
  }
  for (const GgufTensorInfo& t : parsed->tensors()) {
    if (dropped(edit.drop_tensors, t.name)) continue;
    writer.AddTensor(t.name, t.type, t.shape,
                     {reinterpret_cast<const char*>(t.data.data()), t.data.size()});
  }
  if (edit.add) edit.add(&writer);
  absl::StatusOr<std::string> bytes = writer.Write();
  CHECK(bytes.ok()) << bytes.status();
  return *std::move(bytes);
}

GgufBytes& GgufBytes::Header(uint64_t tensor_count, uint64_t kv_count, uint32_t version) {
  return Raw("GGUF").U32(version).U64(tensor_count).U64(kv_count);
}
GgufBytes& GgufBytes::U8(uint8_t v) { return PutLe(&bytes_, v, 1), *this; }
GgufBytes& GgufBytes::U32(uint32_t v) { return PutLe(&bytes_, v, 4), *this; }
GgufBytes& GgufBytes::U64(uint64_t v) { return PutLe(&bytes_, v, 8), *this; }
GgufBytes& GgufBytes::Str(absl::string_view s) { return U64(s.size()).Raw(s); }
GgufBytes& GgufBytes::Raw(absl::string_view s) {
  bytes_.append(s.data(), s.size());
  return *this;
}

size_t StringOffset(const std::string& file, absl::string_view s) {
  const size_t at = file.find(LengthPrefixed(s));
  CHECK(at != std::string::npos) << "string not found: " << s;
  return at;
}

size_t TensorInfoOffset(const std::string& file, absl::string_view name) {
  return StringOffset(file, name) + 8 + name.size();
}

void PatchU32(std::string* file, size_t offset, uint32_t value) {
  CHECK_LE(offset + 4, file->size());
  std::string le;
  PutLe(&le, value, 4);
  file->replace(offset, 4, le);
}

void PatchU64(std::string* file, size_t offset, uint64_t value) {
  CHECK_LE(offset + 8, file->size());
  std::string le;
  PutLe(&le, value, 8);
  file->replace(offset, 8, le);
}

}  // namespace gqa
