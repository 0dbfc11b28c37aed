// Logical identity of full KV blocks: a SHA-256 chain (DESIGN.md "KV cache").
//   root      = SHA-256("gqaserve.block.v1", model fingerprint, tenant)
//   id(block) = SHA-256(parent id, block_size, token ids of the block)
// Identical token prefixes of one tenant on one model get identical ids; any
// other tenant or model gets unrelated ids. Shard and dtype are not part of
// the id: they qualify it where blocks are stored (kvstore keys). Every field
// is length-prefixed so no two different inputs hash the same byte stream.
// Pure functions; thread-safe.
#ifndef GQA_CORE_BLOCK_ID_H_
#define GQA_CORE_BLOCK_ID_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/hash.h"

namespace gqa {

using BlockId = Sha256Digest;

// The first parent of every chain for (model, tenant).
BlockId RootBlockId(absl::string_view model_fingerprint, absl::string_view tenant);

// The id of the block holding `token_ids` whose predecessor is `parent`.
// REQUIRES: token_ids is a full block (its size is the block size).
BlockId ChildBlockId(const BlockId& parent, absl::Span<const int32_t> token_ids);

// The ids of every full block of `token_ids` (a trailing partial block has no
// identity), in order. REQUIRES: block_size > 0.
std::vector<BlockId> ChainBlockIds(const BlockId& root, absl::Span<const int32_t> token_ids,
                                   int64_t block_size);

}  // namespace gqa

#endif  // GQA_CORE_BLOCK_ID_H_
