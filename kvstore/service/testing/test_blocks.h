// Test helpers: keys and blocks with deterministic pseudo-random payloads and
// correct checksums, for the kvstore service, client and benchmark tests.
// Pure functions; thread-safe.
#ifndef GQA_KVSTORE_SERVICE_TESTING_TEST_BLOCKS_H_
#define GQA_KVSTORE_SERVICE_TESTING_TEST_BLOCKS_H_

#include <cstdint>
#include <string>

#include "kvstore/store/block.h"

namespace gqa::kvstore {

// A 32-byte logical id derived from `seed`.
std::string TestLogicalId(uint64_t seed);

// A prefix key of `tenant` (shard [0, 1), f16 unless given).
BlockKey TestPrefixKey(const std::string& tenant, uint64_t seed, DType dtype = DType::kF16);
// A swap key (shard [0, 1), f16).
BlockKey TestSwapKey(const std::string& tenant, const std::string& seq_id, int64_t block_idx);

// A layout whose payload with a one-head shard of `dtype` is `payload_bytes`
// (1 layer, 1 token, head_dim chosen to fit). REQUIRES: payload_bytes is a
// multiple of 2 x DTypeSize(dtype) (plus 8 scale bytes for FP8).
BlockLayout TestLayoutOfBytes(int64_t payload_bytes, DType dtype);

// A block of `key` with `layout`, a payload filled from `seed`, and its crc.
Block TestBlock(const BlockKey& key, const BlockLayout& layout, uint64_t seed);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_TESTING_TEST_BLOCKS_H_
