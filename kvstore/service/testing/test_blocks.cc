#include "kvstore/service/testing/test_blocks.h"

#include "core/crc32c.h"
#include "kvstore/service/block_convert.h"

namespace gqa::kvstore {
namespace {

// splitmix64: a fast, well-mixed sequence from a seed.
uint64_t Mix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string RandomBytes(uint64_t seed, int64_t n) {
  std::string bytes(static_cast<size_t>(n), '\0');
  uint64_t state = seed;
  for (int64_t i = 0; i < n; i += 8) {
    const uint64_t word = Mix(state);
    for (int64_t j = 0; j < 8 && i + j < n; ++j) bytes[i + j] = static_cast<char>(word >> (8 * j));
  }
  return bytes;
}

}  // namespace

std::string TestLogicalId(uint64_t seed) { return RandomBytes(seed * 7919 + 1, 32); }

BlockKey TestPrefixKey(const std::string& tenant, uint64_t seed, DType dtype) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kPrefix;
  key.logical_id = TestLogicalId(seed);
  key.dtype = dtype;
  return key;
}

BlockKey TestSwapKey(const std::string& tenant, const std::string& seq_id, int64_t block_idx) {
  BlockKey key;
  key.tenant = tenant;
  key.kind = BlockKind::kSwap;
  key.seq_id = seq_id;
  key.block_idx = block_idx;
  key.dtype = DType::kF16;
  return key;
}

BlockLayout TestLayoutOfBytes(int64_t payload_bytes, DType dtype) {
  BlockLayout layout;
  layout.num_layers = 1;
  layout.block_tokens = 1;
  const int64_t per_row = payload_bytes / 2 - (IsFp8(dtype) ? 4 : 0);
  layout.head_dim = static_cast<int32_t>(per_row / DTypeSize(dtype));
  return layout;
}

Block TestBlock(const BlockKey& key, const BlockLayout& layout, uint64_t seed) {
  Block block;
  block.key = key;
  block.layout = layout;
  block.payload = RandomBytes(seed, LayoutPayloadBytes(layout, key.shard, key.dtype));
  block.payload_crc32c = crc32c::Value(block.payload);
  return block;
}

}  // namespace gqa::kvstore
