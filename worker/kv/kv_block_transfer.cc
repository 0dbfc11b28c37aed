#include "worker/kv/kv_block_transfer.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

absl::Status Check(absl::Span<const PagedKvView> layers, int32_t block) {
  if (layers.empty()) return absl::InvalidArgumentError("KV block transfer: no layers");
  const PagedKvView& first = layers[0];
  for (const PagedKvView& layer : layers) {
    if (layer.num_kv_heads != first.num_kv_heads || layer.head_dim != first.head_dim ||
        layer.block_size != first.block_size || layer.dtype != first.dtype ||
        layer.num_blocks != first.num_blocks) {
      return absl::InvalidArgumentError("KV block transfer: layers of different shapes");
    }
  }
  if (block < 0 || block >= first.num_blocks) {
    return absl::InvalidArgumentError(absl::StrCat("KV block transfer: block ", block,
                                                   " outside [0, ", first.num_blocks, ")"));
  }
  return absl::OkStatus();
}

// Visits every (layer, head, K/V) row run of `block` in payload order:
// `elements(offset_in_payload, cache_bytes, size)` then, for FP8,
// `scales(offset_in_payload, cache_scales, count)`.
template <typename Elements, typename Scales>
void ForEachRun(absl::Span<const PagedKvView> layers, int32_t block, Elements elements,
                Scales scales) {
  const PagedKvView& shape = layers[0];
  const int64_t heads = shape.num_kv_heads, tokens = shape.block_size;
  const int64_t run_bytes = tokens * shape.head_dim * DTypeSize(shape.dtype);
  int64_t offset = 0;
  for (const PagedKvView& layer : layers) {
    for (int64_t h = 0; h < heads; ++h) {
      for (void* base : {layer.k, layer.v}) {
        elements(offset, static_cast<char*>(base) + (block * heads + h) * run_bytes, run_bytes);
        offset += run_bytes;
      }
    }
  }
  if (!IsFp8(shape.dtype)) return;
  for (const PagedKvView& layer : layers) {
    for (int64_t h = 0; h < heads; ++h) {
      for (float* base : {layer.k_scale, layer.v_scale}) {
        scales(offset, base + (block * heads + h) * tokens, tokens * sizeof(float));
        offset += tokens * static_cast<int64_t>(sizeof(float));
      }
    }
  }
}

}  // namespace

int64_t KvBlockPayloadBytes(absl::Span<const PagedKvView> layers) {
  if (layers.empty()) return 0;
  const PagedKvView& shape = layers[0];
  const int64_t per_token = shape.head_dim * DTypeSize(shape.dtype) + (IsFp8(shape.dtype) ? 4 : 0);
  return static_cast<int64_t>(layers.size()) * shape.num_kv_heads * 2 * shape.block_size *
         per_token;
}

absl::Status ExportKvBlock(absl::Span<const PagedKvView> layers, int32_t block,
                           std::string* payload) {
  if (absl::Status status = Check(layers, block); !status.ok()) return status;
  payload->resize(static_cast<size_t>(KvBlockPayloadBytes(layers)));
  const auto copy_out = [payload](int64_t offset, const void* from, int64_t bytes) {
    std::memcpy(payload->data() + offset, from, static_cast<size_t>(bytes));
  };
  ForEachRun(layers, block, copy_out, copy_out);
  return absl::OkStatus();
}

absl::Status ImportKvBlock(absl::Span<const PagedKvView> layers, int32_t block,
                           absl::string_view payload) {
  if (absl::Status status = Check(layers, block); !status.ok()) return status;
  if (static_cast<int64_t>(payload.size()) != KvBlockPayloadBytes(layers)) {
    return absl::InvalidArgumentError(absl::StrCat("KV block transfer: a payload of ",
                                                   payload.size(), " bytes for blocks of ",
                                                   KvBlockPayloadBytes(layers)));
  }
  const auto copy_in = [payload](int64_t offset, void* to, int64_t bytes) {
    std::memcpy(to, payload.data() + offset, static_cast<size_t>(bytes));
  };
  ForEachRun(layers, block, copy_in, copy_in);
  return absl::OkStatus();
}

}  // namespace gqa
