#include "worker/engine/model_weights.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status.h"

namespace gqa {
namespace {

absl::Status ShapeError(const RawTensor& tensor, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has shape [",
                                                 absl::StrJoin(tensor.shape, ", "),
                                                 "], expected ", expected));
}

absl::StatusOr<WeightView> Matrix(const TensorSource& source, const std::string& name,
                                  int64_t rows, int64_t cols) {
  ASSIGN_OR_RETURN(RawTensor tensor, source.Find(name));
  if (tensor.shape.size() != 2 || tensor.shape[0] != rows || tensor.shape[1] != cols) {
    return ShapeError(tensor, absl::StrCat("[", rows, ", ", cols, "]"));
  }
  if (cols % BlockElems(tensor.format) != 0 ||
      static_cast<int64_t>(tensor.bytes.size()) != rows * RowBytes(tensor.format, cols)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ",
                                                   tensor.bytes.size(), " bytes do not hold [",
                                                   rows, ", ", cols, "] ",
                                                   WeightFormatName(tensor.format)));
  }
  return WeightView{tensor.format, tensor.bytes.data(), rows, cols, 0};
}

absl::StatusOr<const float*> Vector(const TensorSource& source, const std::string& name,
                                    int64_t size) {
  ASSIGN_OR_RETURN(RawTensor tensor, source.Find(name));
  if (tensor.shape.size() != 1 || tensor.shape[0] != size) {
    return ShapeError(tensor, absl::StrCat("[", size, "]"));
  }
  if (tensor.format != WeightFormat::kF32 || tensor.bytes.size() != static_cast<size_t>(4 * size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "' must be F32, is ", WeightFormatName(tensor.format)));
  }
  return reinterpret_cast<const float*>(tensor.bytes.data());
}

// Rows [begin, begin + count) of `full`.
WeightView RowSlice(const WeightView& full, int64_t begin, int64_t count) {
  WeightView slice = full;
  slice.data = full.row(begin);
  slice.rows = count;
  return slice;
}

// Columns [begin, begin + count) of `full`, in place (whole blocks).
WeightView ColumnSlice(const WeightView& full, int64_t begin, int64_t count) {
  WeightView slice = full;
  slice.data = full.row(0) + RowBytes(full.format, begin);
  slice.cols = count;
  slice.row_stride_bytes = full.row_stride_bytes != 0 ? full.row_stride_bytes
                                                      : RowBytes(full.format, full.cols);
  return slice;
}

}  // namespace

absl::StatusOr<ModelWeights> ModelWeights::Load(const TensorSource& source,
                                                const ShardPlan& plan) {
  const ModelConfig& c = source.config();
  const int64_t hidden = c.hidden_size, dim = c.head_dim;
  ModelWeights weights;
  ASSIGN_OR_RETURN(weights.token_embedding, Matrix(source, "token_embd.weight", c.vocab_size, hidden));
  ASSIGN_OR_RETURN(weights.final_norm, Vector(source, "output_norm.weight", hidden));
  if (c.tied_embeddings) {
    weights.lm_head = weights.token_embedding;
  } else {
    ASSIGN_OR_RETURN(weights.lm_head, Matrix(source, "output.weight", c.vocab_size, hidden));
  }
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    LayerWeights layer;
    ASSIGN_OR_RETURN(layer.attn_norm, Vector(source, p + "attn_norm.weight", hidden));
    ASSIGN_OR_RETURN(layer.ffn_norm, Vector(source, p + "ffn_norm.weight", hidden));
    ASSIGN_OR_RETURN(WeightView wq, Matrix(source, p + "attn_q.weight", c.num_query_heads * dim, hidden));
    ASSIGN_OR_RETURN(WeightView wk, Matrix(source, p + "attn_k.weight", c.num_kv_heads * dim, hidden));
    ASSIGN_OR_RETURN(WeightView wv, Matrix(source, p + "attn_v.weight", c.num_kv_heads * dim, hidden));
    ASSIGN_OR_RETURN(WeightView wo, Matrix(source, p + "attn_output.weight", hidden, c.num_query_heads * dim));
    ASSIGN_OR_RETURN(WeightView gate, Matrix(source, p + "ffn_gate.weight", c.intermediate_size, hidden));
    ASSIGN_OR_RETURN(WeightView up, Matrix(source, p + "ffn_up.weight", c.intermediate_size, hidden));
    ASSIGN_OR_RETURN(WeightView down, Matrix(source, p + "ffn_down.weight", hidden, c.intermediate_size));
    layer.wq = RowSlice(wq, plan.q_head_begin * dim, plan.num_q_heads * dim);
    layer.wk = RowSlice(wk, plan.kv_head_begin * dim, plan.num_kv_heads * dim);
    layer.wv = RowSlice(wv, plan.kv_head_begin * dim, plan.num_kv_heads * dim);
    if (plan.tp == 1) {
      layer.wo = wo;
      layer.w_down = down;
    } else {
      if ((plan.q_head_begin * dim) % BlockElems(wo.format) != 0 ||
          (plan.num_q_heads * dim) % BlockElems(wo.format) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "tensor '", p, "attn_output.weight': a rank's ", plan.num_q_heads * dim,
            " columns are not whole ", WeightFormatName(wo.format), " blocks"));
      }
      layer.wo = ColumnSlice(wo, plan.q_head_begin * dim, plan.num_q_heads * dim);
      layer.w_down = ColumnSlice(down, plan.ffn_begin, plan.ffn_size);
    }
    layer.w_gate = RowSlice(gate, plan.ffn_begin, plan.ffn_size);
    layer.w_up = RowSlice(up, plan.ffn_begin, plan.ffn_size);
    weights.layers.push_back(layer);
  }
  return weights;
}

}  // namespace gqa
