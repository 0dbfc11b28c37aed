#include "worker/engine/resident_weights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "core/half.h"
#include "core/status.h"
#include "worker/backend/cpu/dot_kernels.h"

namespace gqa {
namespace {

constexpr int64_t kChunkBytes = int64_t{16} << 20;  // host staging per copy

bool IsQuantized(WeightFormat f) { return BlockElems(f) != 1; }

// Copies weights into backend memory, each distinct host matrix once.
class Uploader {
 public:
  Uploader(Backend& backend, WeightFormat quantized_as,
           std::vector<std::unique_ptr<BackendBuffer>>& buffers, int64_t& bytes)
      : backend_(backend), quantized_as_(quantized_as), buffers_(buffers), bytes_(bytes) {}

  absl::StatusOr<const float*> Vector(const float* host, int64_t n) {
    ASSIGN_OR_RETURN(void* dst, NewBuffer(n * 4));
    RETURN_IF_ERROR(backend_.CopyFromHost(dst, host, n * 4));
    return static_cast<const float*>(dst);
  }

  absl::StatusOr<WeightView> Matrix(const WeightView& w) {
    const auto key = std::make_tuple(w.data, w.rows, w.cols, w.row_stride_bytes, w.format);
    if (auto it = done_.find(key); it != done_.end()) return it->second;
    WeightView out = w;
    out.format = IsQuantized(w.format) ? quantized_as_ : w.format;
    out.row_stride_bytes = 0;
    const int64_t row_bytes = RowBytes(out.format, w.cols);
    ASSIGN_OR_RETURN(void* dst, NewBuffer(w.rows * row_bytes));
    out.data = dst;
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkBytes / std::max<int64_t>(row_bytes, 1));
    std::vector<float> row_f32(IsQuantized(w.format) ? w.cols : 0);
    for (int64_t r0 = 0; r0 < w.rows; r0 += rows_per_chunk) {
      const int64_t n = std::min(rows_per_chunk, w.rows - r0);
      staging_.resize(n * row_bytes);
      for (int64_t r = 0; r < n; ++r) {
        uint8_t* to = staging_.data() + r * row_bytes;
        if (!IsQuantized(w.format)) {
          std::memcpy(to, w.row(r0 + r), row_bytes);
          continue;
        }
        cpu::DequantizeRow(w.format, w.row(r0 + r), w.cols, row_f32.data());
        if (out.format == WeightFormat::kF32) {
          std::memcpy(to, row_f32.data(), row_bytes);
        } else {
          for (int64_t i = 0; i < w.cols; ++i) {
            const uint16_t bits = FloatToBf16(row_f32[i]);
            std::memcpy(to + 2 * i, &bits, 2);
          }
        }
      }
      RETURN_IF_ERROR(backend_.CopyFromHost(static_cast<uint8_t*>(dst) + r0 * row_bytes,
                                            staging_.data(), n * row_bytes));
    }
    done_.emplace(key, out);
    return out;
  }

 private:
  absl::StatusOr<void*> NewBuffer(int64_t bytes) {
    ASSIGN_OR_RETURN(std::unique_ptr<BackendBuffer> buffer, backend_.Allocate(bytes));
    void* data = buffer->data();
    buffers_.push_back(std::move(buffer));
    bytes_ += bytes;
    return data;
  }

  Backend& backend_;
  const WeightFormat quantized_as_;
  std::vector<std::unique_ptr<BackendBuffer>>& buffers_;
  int64_t& bytes_;
  std::vector<uint8_t> staging_;
  std::map<std::tuple<const void*, int64_t, int64_t, int64_t, WeightFormat>, WeightView> done_;
};

}  // namespace

absl::StatusOr<ResidentWeights> ResidentWeights::Create(const ModelWeights& host, Backend& backend,
                                                        const ResidentWeightOptions& options) {
  if (options.quantized_as != WeightFormat::kBF16 && options.quantized_as != WeightFormat::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat("resident weights: quantized weights can become bf16 or f32, not ",
                     WeightFormatName(options.quantized_as)));
  }
  ResidentWeights resident;
  if (backend.memory_is_host()) {
    resident.views_ = host;
    return resident;
  }
  const int64_t hidden = host.token_embedding.cols;
  Uploader up(backend, options.quantized_as, resident.buffers_, resident.bytes_);
  ModelWeights& v = resident.views_;
  ASSIGN_OR_RETURN(v.token_embedding, up.Matrix(host.token_embedding));
  ASSIGN_OR_RETURN(v.final_norm, up.Vector(host.final_norm, hidden));
  ASSIGN_OR_RETURN(v.lm_head, up.Matrix(host.lm_head));
  for (const LayerWeights& l : host.layers) {
    LayerWeights d;
    ASSIGN_OR_RETURN(d.attn_norm, up.Vector(l.attn_norm, hidden));
    ASSIGN_OR_RETURN(d.ffn_norm, up.Vector(l.ffn_norm, hidden));
    ASSIGN_OR_RETURN(d.wq, up.Matrix(l.wq));
    ASSIGN_OR_RETURN(d.wk, up.Matrix(l.wk));
    ASSIGN_OR_RETURN(d.wv, up.Matrix(l.wv));
    ASSIGN_OR_RETURN(d.wo, up.Matrix(l.wo));
    ASSIGN_OR_RETURN(d.w_gate, up.Matrix(l.w_gate));
    ASSIGN_OR_RETURN(d.w_up, up.Matrix(l.w_up));
    ASSIGN_OR_RETURN(d.w_down, up.Matrix(l.w_down));
    v.layers.push_back(d);
  }
  return resident;
}

}  // namespace gqa
