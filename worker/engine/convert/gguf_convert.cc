#include "worker/engine/convert/gguf_convert.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/gguf/gguf_model_config.h"
#include "core/half.h"
#include "core/log.h"
#include "core/status.h"
#include "worker/backend/cpu/dot_kernels.h"
#include "worker/backend/ggml_weight_format.h"
#include "worker/backend/weight_format.h"
#include "worker/engine/convert/kv_head_pooling.h"

namespace gqa {
namespace {

constexpr absl::string_view kFileTypeKey = "general.file_type";

// How the K/V projections are pooled (only with ConvertOptions::kv_heads).
struct Pooling {
  int64_t head_dim = 0;
  int64_t old_heads = 0;
  int64_t new_heads = 0;
};


// blk.N.attn_k.weight, blk.N.attn_v.weight and their biases.
bool IsKvProjection(absl::string_view name) {
  if (!absl::StartsWith(name, "blk.")) return false;
  for (absl::string_view suffix :
       {".attn_k.weight", ".attn_v.weight", ".attn_k.bias", ".attn_v.bias"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

// Every element of `t` as f32, row by row (a row is ne0 elements).
absl::StatusOr<std::vector<float>> Dequantize(const GgufFile& file, const GgufTensorInfo& t) {
  const std::optional<WeightFormat> format = WeightFormatFromGgml(t.type);
  if (!format) {
    return absl::UnimplementedError(absl::StrCat(
        file.display_name(), ": tensor '", t.name, "' has type ", GgmlTypeName(t.type),
        "; gqa convert reads F32, F16, BF16, Q8_0, Q4_0 and Q4_1"));
  }
  const int64_t cols = t.shape[0];
  const int64_t rows = t.num_elements / cols;
  const int64_t row_bytes = RowBytes(*format, cols);
  CHECK_EQ(static_cast<uint64_t>(rows * row_bytes), t.size_bytes);  // the parser sized it
  std::vector<float> values(t.num_elements);
  for (int64_t r = 0; r < rows; ++r) {
    cpu::DequantizeRow(*format, t.data.data() + r * row_bytes, cols, values.data() + r * cols);
  }
  return values;
}

// `values` stored as `type` (F32, F16 or BF16), little-endian.
std::string Encode(const std::vector<float>& values, GgmlType type) {
  if (type == GgmlType::kF32) {
    std::string out(values.size() * sizeof(float), '\0');
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  std::vector<uint16_t> halves(values.size());
  if (type == GgmlType::kF16) {
    EncodeF16(values, absl::MakeSpan(halves));
  } else {
    CHECK(type == GgmlType::kBF16);
    EncodeBf16(values, absl::MakeSpan(halves));
  }
  std::string out(halves.size() * sizeof(uint16_t), '\0');
  std::memcpy(out.data(), halves.data(), out.size());
  return out;
}

// Pools K/V tensor `t` (already dequantized into `values`) and updates `shape`.
// NOTE: GGUF's llama converter permutes the rows of Q and K within each head
// (Hugging Face's half-split RoPE layout -> interleaved pairs). The
// permutation is the same for every head and never crosses a head, so the
// mean of whole heads commutes with it: pooling here equals pooling the
// original checkpoint and permuting afterwards.
absl::Status PoolKvTensor(const GgufFile& file, const GgufTensorInfo& t, const Pooling& pooling,
                          std::vector<float>* values, std::vector<int64_t>* shape) {
  const int64_t kv_rows = pooling.old_heads * pooling.head_dim;
  // A weight is [ne0 = hidden, ne1 = kv rows]; a bias is [ne0 = kv rows].
  const bool is_bias = t.shape.size() == 1;
  const int64_t rows = is_bias ? t.shape[0] : (t.shape.size() == 2 ? t.shape[1] : -1);
  if (rows != kv_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.display_name(), ": tensor '", t.name, "' has ", t.shape.size(),
        " dimensions and ", rows, " K/V rows, expected ", kv_rows, " (", pooling.old_heads,
        " KV heads x head dim ", pooling.head_dim, ")"));
  }
  const int64_t cols = is_bias ? 1 : t.shape[0];
  *values = MeanPoolKvHeads(*values, cols, pooling.head_dim, pooling.old_heads, pooling.new_heads);
  (*shape)[is_bias ? 0 : 1] = pooling.new_heads * pooling.head_dim;
  return absl::OkStatus();
}

// Copies the metadata of `in` in order, rewriting the file type and (when
// `head_count_kv_key` is not empty) the KV head count.
void CopyMetadata(const GgufFile& in, GgmlType dtype, const std::string& head_count_kv_key,
                  int64_t kv_heads, GgufWriter* out) {
  bool wrote_file_type = false, wrote_head_count = false;
  for (const GgufKv& kv : in.metadata()) {
    if (kv.key == kFileTypeKey) {
      out->AddUint32(kv.key, LlamaFileType(dtype));
      wrote_file_type = true;
    } else if (!head_count_kv_key.empty() && kv.key == head_count_kv_key) {
      out->AddUint32(kv.key, static_cast<uint32_t>(kv_heads));
      wrote_head_count = true;
    } else {
      out->AddValue(kv.key, kv.value);
    }
  }
  if (!wrote_file_type) out->AddUint32(kFileTypeKey, LlamaFileType(dtype));
  if (!head_count_kv_key.empty() && !wrote_head_count) {
    out->AddUint32(head_count_kv_key, static_cast<uint32_t>(kv_heads));
  }
}

}  // namespace

absl::StatusOr<GgmlType> ParseConvertDType(absl::string_view text) {
  if (text == "f32") return GgmlType::kF32;
  if (text == "f16") return GgmlType::kF16;
  if (text == "bf16") return GgmlType::kBF16;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype '", text, "': expected f32, f16 or bf16"));
}

uint32_t LlamaFileType(GgmlType dtype) {
  switch (dtype) {
    case GgmlType::kF32:
      return 0;  // LLAMA_FTYPE_ALL_F32
    case GgmlType::kF16:
      return 1;  // LLAMA_FTYPE_MOSTLY_F16
    case GgmlType::kBF16:
      return 32;  // LLAMA_FTYPE_MOSTLY_BF16
    default:
      LOG(FATAL) << "no llama file type for " << GgmlTypeName(dtype);
  }
  return 0;
}

absl::StatusOr<ConvertSummary> ConvertGguf(const GgufFile& in, const ConvertOptions& options,
                                           GgufWriter* out) {
  if (options.dtype != GgmlType::kF32 && options.dtype != GgmlType::kF16 &&
      options.dtype != GgmlType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot convert to ", GgmlTypeName(options.dtype), "; choose F32, F16 or BF16"));
  }
  ConvertSummary summary;
  std::optional<Pooling> pooling;
  std::string head_count_kv_key;
  if (options.kv_heads) {
    ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromGguf(in));
    RETURN_IF_ERROR(CheckKvHeads(config.num_kv_heads, *options.kv_heads));
    ASSIGN_OR_RETURN(absl::string_view arch, in.GetString("general.architecture"));
    head_count_kv_key = absl::StrCat(arch, ".attention.head_count_kv");
    pooling = Pooling{config.head_dim, config.num_kv_heads, *options.kv_heads};
    summary.old_kv_heads = config.num_kv_heads;
    summary.new_kv_heads = *options.kv_heads;
  }
  CopyMetadata(in, options.dtype, head_count_kv_key, options.kv_heads.value_or(0), out);
  for (const GgufTensorInfo& t : in.tensors()) {
    ASSIGN_OR_RETURN(std::vector<float> values, Dequantize(in, t));
    std::vector<int64_t> shape = t.shape;
    if (pooling && IsKvProjection(t.name)) {
      RETURN_IF_ERROR(PoolKvTensor(in, t, *pooling, &values, &shape));
      ++summary.num_pooled_tensors;
    }
    // As llama.cpp: one-dimensional tensors (norms, biases) stay F32.
    const GgmlType type = shape.size() == 1 ? GgmlType::kF32 : options.dtype;
    out->AddTensor(t.name, type, std::move(shape), Encode(values, type));
    ++summary.num_tensors;
  }
  return summary;
}

absl::StatusOr<ConvertSummary> ConvertGgufFile(Env* env, const std::string& in_path,
                                               const std::string& out_path,
                                               const ConvertOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<GgufModelFile> in, OpenGguf(env, in_path));
  std::string bytes;
  ConvertSummary summary;
  {
    GgufWriter writer(GgufWriterOptions{.version = 3, .alignment = in->file().alignment()});
    ASSIGN_OR_RETURN(summary, ConvertGguf(in->file(), options, &writer));
    absl::StatusOr<std::string> written = writer.Write();
    if (!written.ok()) return absl::InternalError(written.status().message());
    bytes = *std::move(written);
  }  // frees the writer's copy of the tensors
  // Self-check: the result parses and, when the heads changed, is a valid model.
  absl::StatusOr<GgufFile> check =
      ParseGguf({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, out_path);
  if (!check.ok()) return absl::InternalError(check.status().message());
  if (options.kv_heads) {
    absl::StatusOr<ModelConfig> config = ModelConfigFromGguf(*check);
    if (!config.ok()) return absl::InternalError(config.status().message());
    if (config->num_kv_heads != *options.kv_heads) {
      return absl::InternalError(absl::StrCat(out_path, ": wrote ", config->num_kv_heads,
                                              " KV heads instead of ", *options.kv_heads));
    }
  }
  RETURN_IF_ERROR(env->WriteFileAtomically(out_path, bytes));
  summary.output_bytes = static_cast<int64_t>(bytes.size());
  return summary;
}

}  // namespace gqa
