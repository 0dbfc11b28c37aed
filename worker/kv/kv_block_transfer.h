// Copies one KV block of every layer between a rank's paged cache in host
// memory (the CPU backend's layout: per layer, K and V as
// [blocks][kv_heads][block_size][head_dim] and FP8 scales as
// [blocks][kv_heads][block_size]) and the kvstore's block payload
// (kvstore.proto BlockLayout: elements [layers][kv_heads][K,V][tokens][dim]
// of the cache dtype, then f32 scales [layers][kv_heads][K,V][tokens] for
// FP8). Bytes are copied as stored, so a block comes back bit-identical.
// Thread-compatible.
#ifndef GQA_WORKER_KV_KV_BLOCK_TRANSFER_H_
#define GQA_WORKER_KV_KV_BLOCK_TRANSFER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "worker/backend/params.h"

namespace gqa {

// The payload size of one block of `layers`.
int64_t KvBlockPayloadBytes(absl::Span<const PagedKvView> layers);

// Appends block `block` of every layer to `payload` (cleared first).
// INVALID_ARGUMENT for a block out of range or layers of different shapes.
absl::Status ExportKvBlock(absl::Span<const PagedKvView> layers, int32_t block,
                           std::string* payload);

// Writes `payload` into block `block` of every layer. INVALID_ARGUMENT for a
// block out of range or a payload of the wrong size.
absl::Status ImportKvBlock(absl::Span<const PagedKvView> layers, int32_t block,
                           absl::string_view payload);

}  // namespace gqa

#endif  // GQA_WORKER_KV_KV_BLOCK_TRANSFER_H_
