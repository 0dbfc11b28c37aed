#include "core/block_id.h"

#include "core/log.h"

namespace gqa {
namespace {

constexpr absl::string_view kDomain = "gqaserve.block.v1";

void UpdateLengthPrefixed(Sha256Hasher& hasher, absl::string_view field) {
  hasher.UpdateU64(field.size());
  hasher.Update(field);
}

}  // namespace

BlockId RootBlockId(absl::string_view model_fingerprint, absl::string_view tenant) {
  Sha256Hasher hasher;
  UpdateLengthPrefixed(hasher, kDomain);
  UpdateLengthPrefixed(hasher, model_fingerprint);
  UpdateLengthPrefixed(hasher, tenant);
  return hasher.Finish();
}

BlockId ChildBlockId(const BlockId& parent, absl::Span<const int32_t> token_ids) {
  Sha256Hasher hasher;
  hasher.Update(absl::MakeConstSpan(parent));
  hasher.UpdateU64(token_ids.size());
  for (int32_t token : token_ids) {
    const uint32_t bits = static_cast<uint32_t>(token);
    const uint8_t le[4] = {static_cast<uint8_t>(bits), static_cast<uint8_t>(bits >> 8),
                           static_cast<uint8_t>(bits >> 16), static_cast<uint8_t>(bits >> 24)};
    hasher.Update(absl::MakeConstSpan(le, 4));
  }
  return hasher.Finish();
}

std::vector<BlockId> ChainBlockIds(const BlockId& root, absl::Span<const int32_t> token_ids,
                                   int64_t block_size) {
  CHECK_GT(block_size, 0);
  std::vector<BlockId> ids;
  const size_t num_full_blocks = token_ids.size() / static_cast<size_t>(block_size);
  ids.reserve(num_full_blocks);
  BlockId parent = root;
  for (size_t i = 0; i < num_full_blocks; ++i) {
    parent = ChildBlockId(parent, token_ids.subspan(i * block_size, block_size));
    ids.push_back(parent);
  }
  return ids;
}

}  // namespace gqa
