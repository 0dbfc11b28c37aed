// The checksummed record that wraps a block on disk (kvstore/store/disk_tier.h)
// and as a Redis value (redis_tier.h): a header (magic, version, lengths,
// kind, expiry, layout, key) with its own CRC-32C, the payload, and a trailing
// CRC-32C over header and payload. Format: docs/formats/kvstore-disk.md.
// Pure functions: thread-safe.
//
//   0   u32 magic "GQKV"          24  i32 num_layers
//   4   u16 version (1)           28  i32 block_tokens
//   6   u8  type (1 block,        32  i32 head_dim
//           2 tombstone)          36  u32 payload_crc32c
//   7   u8  kind (1 prefix, 2 swap)  40  u32 key_bytes (K)
//   8   u64 payload_bytes (P)     44  K bytes: the key (block_key_codec.h)
//   16  i64 expiry_unix_ns (0: none)  44+K  u32 header_crc32c of [0, 44+K)
//   48+K  P bytes payload     48+K+P  u32 record_crc32c of [0, 48+K+P)
#ifndef GQA_KVSTORE_STORE_RECORD_FORMAT_H_
#define GQA_KVSTORE_STORE_RECORD_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

inline constexpr char kRecordMagic[4] = {'G', 'Q', 'K', 'V'};
inline constexpr uint16_t kRecordVersion = 1;
inline constexpr int64_t kRecordFixedBytes = 44;  // the header before its key
inline constexpr int64_t kMaxRecordKeyBytes = 1024;

enum class RecordType : uint8_t {
  kBlock = 1,      // a block and its payload
  kTombstone = 2,  // the key was deleted; no payload (disk only)
};

struct RecordHeader {
  RecordType type = RecordType::kBlock;
  BlockKind kind = BlockKind::kPrefix;
  int64_t payload_bytes = 0;
  int64_t expiry_unix_ns = 0;  // swap blocks and their tombstones; 0 for none
  BlockLayout layout;
  uint32_t payload_crc32c = 0;
  std::string encoded_key;  // EncodeBlockKey

  // Bytes of the header including its CRC; the payload starts here.
  int64_t header_bytes() const { return kRecordFixedBytes + encoded_key.size() + 4; }
  // Bytes of the whole record.
  int64_t record_bytes() const { return header_bytes() + payload_bytes + 4; }
};

// The record size of a block with this key and payload size.
int64_t RecordBytes(const BlockKey& key, int64_t payload_bytes);

// The header's bytes, ending with the header CRC.
std::string EncodeRecordHeader(const RecordHeader& header);

// The record's trailing CRC, given the encoded header and the payload.
uint32_t RecordCrc(absl::string_view encoded_header, absl::string_view payload);

// A block record's header: type kBlock, the block's key, layout and CRC.
RecordHeader BlockRecordHeader(const Block& block, int64_t expiry_unix_ns);

enum class HeaderParse {
  kOk,         // *header is valid (magic, version, fields, header CRC)
  kTruncated,  // the bytes end before the header does (a torn tail)
  kCorrupt,    // not a valid header
};

// Parses a record header at the start of `bytes` (which may continue past it).
HeaderParse ParseRecordHeader(absl::string_view bytes, RecordHeader* header);

// A whole encoded block record (header, payload, trailer) as one string.
std::string EncodeBlockRecord(const Block& block, int64_t expiry_unix_ns);

// Decodes and verifies a whole block record (both CRCs, exact length, the
// key's encoding). DATA_LOSS with the reason otherwise.
struct DecodedRecord {
  Block block;
  int64_t expiry_unix_ns = 0;
};
absl::StatusOr<DecodedRecord> DecodeBlockRecord(absl::string_view record);

// Builds the Block of a verified header and payload (DATA_LOSS when the key
// does not decode).
absl::StatusOr<Block> BlockFromRecord(const RecordHeader& header, std::string payload);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_RECORD_FORMAT_H_
