// The canonical byte string of a BlockKey, and its inverse: the index key of
// every tier and the key stored inside disk and Redis records. Unambiguous
// (every variable field is length-prefixed) and tenant-first, so another
// tenant's key simply never matches, and all swap blocks of one sequence share
// a byte prefix (SwapSequencePrefix), which ordered indexes scan for
// DeleteSwapSequence. Pure functions: thread-safe.
//
//   u32 tenant_len, tenant, u8 kind (1 prefix, 2 swap),
//     prefix: u32 id_len, logical_id
//     swap:   u32 seq_len, seq_id, i64 block_idx
//   i32 first_kv_head, i32 num_kv_heads, u8 dtype (kvstore.proto KvDtype number)
// All integers little-endian. Documented in docs/formats/kvstore-disk.md.
#ifndef GQA_KVSTORE_STORE_BLOCK_KEY_CODEC_H_
#define GQA_KVSTORE_STORE_BLOCK_KEY_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

// The canonical encoding of `key` (which should be valid: ValidateKey).
std::string EncodeBlockKey(const BlockKey& key);

// The inverse of EncodeBlockKey. DATA_LOSS when `encoded` is not exactly one
// encoded key (truncated, trailing bytes, unknown kind or dtype).
absl::StatusOr<BlockKey> DecodeBlockKey(absl::string_view encoded);

// The bytes every encoded swap key of (tenant, seq_id) starts with, and no
// other key does.
std::string SwapSequencePrefix(absl::string_view tenant, absl::string_view seq_id);

// The on-disk dtype code (kvstore.proto KvDtype: f32 1, f16 2, bf16 3,
// fp8-e4m3 4, fp8-e5m2 5), and back (DATA_LOSS for an unknown code).
uint8_t DTypeCode(DType dtype);
absl::StatusOr<DType> DTypeFromCode(uint8_t code);

// Little-endian fixed-width integer helpers shared by the record format.
void PutFixed16(std::string* out, uint16_t value);
void PutFixed32(std::string* out, uint32_t value);
void PutFixed64(std::string* out, uint64_t value);
uint16_t GetFixed16(const char* p);
uint32_t GetFixed32(const char* p);
uint64_t GetFixed64(const char* p);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_BLOCK_KEY_CODEC_H_
