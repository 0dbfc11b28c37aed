#include "kvstore/store/testing/test_blocks.h"

#include "core/crc32c.h"
#include "core/hash.h"
#include "core/log.h"
#include "kvstore/store/block_layout.h"
#include "kvstore/store/record_format.h"

namespace gqa::kvstore::testing {

std::string LogicalId(int64_t n) {
  const Sha256Digest digest = Sha256(std::to_string(n));
  return std::string(digest.begin(), digest.end());
}

BlockKey PrefixKey(const std::string& tenant, int64_t n, KvShard shard, DType dtype) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kPrefix;
  key.logical_id = LogicalId(n);
  key.shard = shard;
  key.dtype = dtype;
  return key;
}

BlockKey SwapKey(const std::string& tenant, const std::string& seq_id, int64_t block_idx,
                 KvShard shard, DType dtype) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kSwap;
  key.seq_id = seq_id;
  key.block_idx = block_idx;
  key.shard = shard;
  key.dtype = dtype;
  return key;
}

BlockLayout SmallLayout() { return BlockLayout{2, 4, 8}; }

std::string ExpectedPayload(const BlockKey& key, const BlockLayout& layout, uint64_t seed) {
  absl::StatusOr<int64_t> bytes = PayloadBytes(layout, key.shard.num_kv_heads, key.dtype);
  CHECK(bytes.ok()) << bytes.status();
  std::string payload(static_cast<size_t>(*bytes), '\0');
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : payload) {  // splitmix64, one byte per step
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    c = static_cast<char>(z ^ (z >> 31));
  }
  return payload;
}

Block MakeBlock(const BlockKey& key, const BlockLayout& layout, uint64_t seed) {
  Block block;
  block.key = key;
  block.layout = layout;
  block.payload = ExpectedPayload(key, layout, seed);
  block.payload_crc32c = crc32c::Value(block.payload);
  return block;
}

Block MakeBlock(const BlockKey& key, uint64_t seed) { return MakeBlock(key, SmallLayout(), seed); }

int64_t ChargeOf(const Block& block) {
  return RecordBytes(block.key, static_cast<int64_t>(block.payload.size()));
}

}  // namespace gqa::kvstore::testing
