#include "worker/backend/cpu/kv_write.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/fp8.h"
#include "core/half.h"
#include "worker/backend/kv_view_check.h"

namespace gqa::cpu {
namespace {

// The FP8 scale of one row: from its largest finite magnitude (see WriteKv).
float RowScale(const float* x, int64_t n, DType dtype) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a <= std::numeric_limits<float>::max()) amax = std::max(amax, a);  // skips inf, NaN
  }
  return amax == 0.0f ? 1.0f : Fp8ScaleFor(absl::MakeConstSpan(&amax, 1), dtype);
}

// Encodes one row of n values at `codes`, returning its scale.
float StoreFp8Row(const float* x, int64_t n, DType dtype, uint8_t* codes,
                  std::vector<float>& scaled) {
  const float scale = RowScale(x, n, dtype);
  scaled.resize(n);
  for (int64_t i = 0; i < n; ++i) scaled[i] = x[i] / scale;
  EncodeFp8(dtype, scaled, {codes, static_cast<size_t>(n)}, Fp8Overflow::kSaturating);
  return scale;
}

// Stores one row of n values at element `index` of a non-FP8 cache.
void StoreRow(const float* x, int64_t n, DType dtype, void* base, int64_t index) {
  const absl::Span<const float> in(x, static_cast<size_t>(n));
  switch (dtype) {
    case DType::kF32:
      std::memcpy(static_cast<float*>(base) + index, x, n * sizeof(float));
      break;
    case DType::kF16:
      EncodeF16(in, {static_cast<uint16_t*>(base) + index, static_cast<size_t>(n)});
      break;
    case DType::kBF16:
      EncodeBf16(in, {static_cast<uint16_t*>(base) + index, static_cast<size_t>(n)});
      break;
    default:
      break;
  }
}

}  // namespace

absl::Status WriteKv(const KvWriteParams& params) {
  const PagedKvView& cache = params.cache;
  if (absl::Status status = ValidatePagedKvView(cache, "KV write"); !status.ok()) return status;
  const int64_t heads = cache.num_kv_heads;
  // The destination slot of (token t, KV head h).
  auto slot_of = [&params, heads](int64_t t, int64_t h) {
    return params.head_slot_mapping != nullptr ? params.head_slot_mapping[t * heads + h]
                                               : params.slot_mapping[t];
  };
  const int64_t num_slots = cache.num_blocks * cache.block_size;
  for (int64_t t = 0; t < params.num_tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t slot = slot_of(t, h);
      if (slot < 0 || slot >= num_slots) {
        return absl::InvalidArgumentError(absl::StrCat("KV write: token ", t, " KV head ", h,
                                                       " slot ", slot, " outside the cache's ",
                                                       num_slots, " slots"));
      }
    }
  }
  const int64_t dim = cache.head_dim;
  std::vector<float> scaled;
  for (int64_t t = 0; t < params.num_tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t slot = slot_of(t, h);
      const int64_t block = slot / cache.block_size, offset = slot % cache.block_size;
      const int64_t scale_index = (block * heads + h) * cache.block_size + offset;
      const int64_t index = scale_index * dim;  // element (block, h, offset, 0)
      const float* k = params.k + (t * heads + h) * dim;
      const float* v = params.v + (t * heads + h) * dim;
      if (IsFp8(cache.dtype)) {
        cache.k_scale[scale_index] =
            StoreFp8Row(k, dim, cache.dtype, static_cast<uint8_t*>(cache.k) + index, scaled);
        cache.v_scale[scale_index] =
            StoreFp8Row(v, dim, cache.dtype, static_cast<uint8_t*>(cache.v) + index, scaled);
      } else {
        StoreRow(k, dim, cache.dtype, cache.k, index);
        StoreRow(v, dim, cache.dtype, cache.v, index);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CopyKvBlocks(const KvCopyParams& params) {
  const PagedKvView& cache = params.cache;
  if (absl::Status status = ValidatePagedKvView(cache, "KV block copy"); !status.ok()) return status;
  if (params.num_pairs < 0 ||
      (params.num_pairs > 0 && (params.src_blocks == nullptr || params.dst_blocks == nullptr))) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV block copy: ", params.num_pairs, " pairs without block arrays"));
  }
  const int64_t n = params.num_pairs;
  std::vector<int32_t> sources(params.src_blocks, params.src_blocks + n);
  std::vector<int32_t> destinations(params.dst_blocks, params.dst_blocks + n);
  std::sort(sources.begin(), sources.end());
  std::sort(destinations.begin(), destinations.end());
  for (int64_t i = 0; i < n; ++i) {
    for (const int32_t id : {params.src_blocks[i], params.dst_blocks[i]}) {
      if (id < 0 || id >= cache.num_blocks) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KV block copy: block ", id, " outside the cache's ", cache.num_blocks, " blocks"));
      }
    }
    if (std::binary_search(sources.begin(), sources.end(), params.dst_blocks[i])) {
      return absl::InvalidArgumentError(absl::StrCat("KV block copy: destination block ",
                                                     params.dst_blocks[i], " is also a source"));
    }
  }
  if (auto twice = std::adjacent_find(destinations.begin(), destinations.end());
      twice != destinations.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV block copy: destination block ", *twice, " appears in two pairs"));
  }
  const int64_t block_elems = cache.num_kv_heads * cache.block_size * cache.head_dim;
  const int64_t block_bytes = block_elems * DTypeSize(cache.dtype);
  const int64_t scale_count = cache.num_kv_heads * cache.block_size;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t src = params.src_blocks[i], dst = params.dst_blocks[i];
    for (void* base : {cache.k, cache.v}) {
      char* bytes = static_cast<char*>(base);
      std::memcpy(bytes + dst * block_bytes, bytes + src * block_bytes, block_bytes);
    }
    if (IsFp8(cache.dtype)) {
      for (float* scales : {cache.k_scale, cache.v_scale}) {
        std::memcpy(scales + dst * scale_count, scales + src * scale_count,
                    scale_count * sizeof(float));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace gqa::cpu
