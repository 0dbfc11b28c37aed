// Test-only: keys and blocks with deterministic payloads for the kvstore
// store's tests. Thread-safe (pure functions).
#ifndef GQA_KVSTORE_STORE_TESTING_TEST_BLOCKS_H_
#define GQA_KVSTORE_STORE_TESTING_TEST_BLOCKS_H_

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore::testing {

// A 32-byte logical id derived from n.
std::string LogicalId(int64_t n);

BlockKey PrefixKey(const std::string& tenant, int64_t n, KvShard shard = {0, 1},
                   DType dtype = DType::kF16);
BlockKey SwapKey(const std::string& tenant, const std::string& seq_id, int64_t block_idx,
                 KvShard shard = {0, 1}, DType dtype = DType::kF16);

// 2 layers, 4 tokens, head_dim 8.
BlockLayout SmallLayout();

// A block of `key` with `layout` whose payload is a pseudo-random function of
// `seed` (bytes, not meaningful floats), with its CRC-32C set.
Block MakeBlock(const BlockKey& key, const BlockLayout& layout, uint64_t seed);
Block MakeBlock(const BlockKey& key, uint64_t seed);  // SmallLayout

// The payload MakeBlock(key, layout, seed) has.
std::string ExpectedPayload(const BlockKey& key, const BlockLayout& layout, uint64_t seed);

// Bytes a block costs in the memory tier (its record size).
int64_t ChargeOf(const Block& block);

}  // namespace gqa::kvstore::testing

#endif  // GQA_KVSTORE_STORE_TESTING_TEST_BLOCKS_H_
