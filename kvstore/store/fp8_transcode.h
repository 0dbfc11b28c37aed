// FP8 transcoding of block payloads (kvstore.proto layout): f32, f16 or bf16
// elements to FP8 (E4M3 or E5M2) with one f32 scale per (layer, kv head, K/V,
// token) row, scale = amax(row) / max_finite (1 for an all-zero row), encoded
// with saturation; and back. For workers or tools that hold a block in one
// dtype and need it in another. The error bound of a round trip is derived in
// docs/kv-cache.md ("FP8 transcoding in the kvstore"). Pure functions:
// thread-safe.
#ifndef GQA_KVSTORE_STORE_FP8_TRANSCODE_H_
#define GQA_KVSTORE_STORE_FP8_TRANSCODE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

// An FP8 payload (elements, then scales) of the `from` payload.
// INVALID_ARGUMENT unless `from` is f32, f16 or bf16, `to` is an FP8 dtype and
// payload.size() matches the layout.
absl::StatusOr<std::string> QuantizePayloadToFp8(absl::string_view payload,
                                                 const BlockLayout& layout, int32_t num_kv_heads,
                                                 DType from, DType to);

// The `to` payload (f32, f16 or bf16; rounded to nearest even) of an FP8
// payload: element x scale of its row. INVALID_ARGUMENT for wrong dtypes or
// size, or a scale that is not finite and > 0.
absl::StatusOr<std::string> DequantizePayloadFromFp8(absl::string_view payload,
                                                     const BlockLayout& layout,
                                                     int32_t num_kv_heads, DType from, DType to);

// `block` in dtype `to`: key.dtype, payload and payload_crc32c replaced.
// One of block.key.dtype and `to` must be FP8 and the other not; the same
// dtype returns a copy.
absl::StatusOr<Block> TranscodeBlock(const Block& block, DType to);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_FP8_TRANSCODE_H_
