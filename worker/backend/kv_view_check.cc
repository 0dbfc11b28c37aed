#include "worker/backend/kv_view_check.h"

#include "absl/strings/str_cat.h"
#include "core/dtype.h"

namespace gqa {

absl::Status ValidatePagedKvView(const PagedKvView& cache, absl::string_view op) {
  if (DTypeSize(cache.dtype) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": unknown KV dtype"));
  }
  if (cache.num_kv_heads <= 0 || cache.head_dim <= 0 || cache.block_size <= 0 ||
      cache.num_blocks < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": bad cache shape num_blocks=", cache.num_blocks, " num_kv_heads=", cache.num_kv_heads,
        " head_dim=", cache.head_dim, " block_size=", cache.block_size));
  }
  if (IsFp8(cache.dtype) && (cache.k_scale == nullptr || cache.v_scale == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", DTypeName(cache.dtype),
                                                   " cache without k_scale/v_scale; pass the "
                                                   "per-token scale arrays"));
  }
  return absl::OkStatus();
}

}  // namespace gqa
