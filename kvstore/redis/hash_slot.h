// Key -> hash slot routing for Redis Cluster: CRC16/XMODEM and the {hash tag}
// rule from the cluster spec. RedisClusterClient::HashSlot() is built on
// these; they are exposed for tests and the fixture. Pure functions.
#ifndef GQA_KVSTORE_REDIS_HASH_SLOT_H_
#define GQA_KVSTORE_REDIS_HASH_SLOT_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gqa::kvstore {

inline constexpr int kNumHashSlots = 16384;

// CRC16/XMODEM (polynomial 0x1021, init 0, no reflection, no final xor).
uint16_t Crc16Xmodem(absl::string_view bytes);

// The part of `key` that is hashed: the bytes between the first '{' and the
// first '}' after it when that is non-empty, otherwise the whole key.
absl::string_view HashTagOf(absl::string_view key);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_HASH_SLOT_H_
