#include "kvstore/store/record_format.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/block_layout.h"

namespace gqa::kvstore {
namespace {

constexpr uint8_t KindCode(BlockKind kind) { return kind == BlockKind::kPrefix ? 1 : 2; }

}  // namespace

int64_t RecordBytes(const BlockKey& key, int64_t payload_bytes) {
  return kRecordFixedBytes + static_cast<int64_t>(EncodeBlockKey(key).size()) + 4 + payload_bytes +
         4;
}

std::string EncodeRecordHeader(const RecordHeader& header) {
  std::string out;
  out.reserve(static_cast<size_t>(header.header_bytes()));
  out.append(kRecordMagic, 4);
  PutFixed16(&out, kRecordVersion);
  out.push_back(static_cast<char>(header.type));
  out.push_back(static_cast<char>(KindCode(header.kind)));
  PutFixed64(&out, static_cast<uint64_t>(header.payload_bytes));
  PutFixed64(&out, static_cast<uint64_t>(header.expiry_unix_ns));
  PutFixed32(&out, static_cast<uint32_t>(header.layout.num_layers));
  PutFixed32(&out, static_cast<uint32_t>(header.layout.block_tokens));
  PutFixed32(&out, static_cast<uint32_t>(header.layout.head_dim));
  PutFixed32(&out, header.payload_crc32c);
  PutFixed32(&out, static_cast<uint32_t>(header.encoded_key.size()));
  out.append(header.encoded_key);
  PutFixed32(&out, crc32c::Value(out));
  return out;
}

uint32_t RecordCrc(absl::string_view encoded_header, absl::string_view payload) {
  return crc32c::Extend(crc32c::Value(encoded_header), payload);
}

RecordHeader BlockRecordHeader(const Block& block, int64_t expiry_unix_ns) {
  RecordHeader header;
  header.type = RecordType::kBlock;
  header.kind = block.key.kind;
  header.payload_bytes = static_cast<int64_t>(block.payload.size());
  header.expiry_unix_ns = expiry_unix_ns;
  header.layout = block.layout;
  header.payload_crc32c = block.payload_crc32c;
  header.encoded_key = EncodeBlockKey(block.key);
  return header;
}

HeaderParse ParseRecordHeader(absl::string_view bytes, RecordHeader* header) {
  // A prefix of the magic at the very end is a torn tail; anything else is not
  // a record start.
  if (bytes.empty()) return HeaderParse::kTruncated;
  const size_t magic_seen = std::min<size_t>(bytes.size(), 4);
  if (std::memcmp(bytes.data(), kRecordMagic, magic_seen) != 0) return HeaderParse::kCorrupt;
  if (static_cast<int64_t>(bytes.size()) < kRecordFixedBytes) return HeaderParse::kTruncated;
  const char* p = bytes.data();
  if (GetFixed16(p + 4) != kRecordVersion) return HeaderParse::kCorrupt;
  const uint8_t type = static_cast<uint8_t>(p[6]);
  const uint8_t kind = static_cast<uint8_t>(p[7]);
  const uint32_t key_bytes = GetFixed32(p + 40);
  if ((type != 1 && type != 2) || (kind != 1 && kind != 2) || key_bytes == 0 ||
      key_bytes > kMaxRecordKeyBytes) {
    return HeaderParse::kCorrupt;
  }
  const size_t header_bytes = kRecordFixedBytes + key_bytes + 4;
  if (bytes.size() < header_bytes) return HeaderParse::kTruncated;
  if (crc32c::Value(p, header_bytes - 4) != GetFixed32(p + header_bytes - 4)) {
    return HeaderParse::kCorrupt;
  }
  const uint64_t payload_bytes = GetFixed64(p + 8);
  if (payload_bytes > static_cast<uint64_t>(kMaxPayloadBytes) ||
      (type == 2 && payload_bytes != 0)) {
    return HeaderParse::kCorrupt;
  }
  header->type = static_cast<RecordType>(type);
  header->kind = kind == 1 ? BlockKind::kPrefix : BlockKind::kSwap;
  header->payload_bytes = static_cast<int64_t>(payload_bytes);
  header->expiry_unix_ns = static_cast<int64_t>(GetFixed64(p + 16));
  header->layout.num_layers = static_cast<int32_t>(GetFixed32(p + 24));
  header->layout.block_tokens = static_cast<int32_t>(GetFixed32(p + 28));
  header->layout.head_dim = static_cast<int32_t>(GetFixed32(p + 32));
  header->payload_crc32c = GetFixed32(p + 36);
  header->encoded_key.assign(p + kRecordFixedBytes, key_bytes);
  return HeaderParse::kOk;
}

std::string EncodeBlockRecord(const Block& block, int64_t expiry_unix_ns) {
  std::string record = EncodeRecordHeader(BlockRecordHeader(block, expiry_unix_ns));
  const uint32_t crc = crc32c::Extend(crc32c::Value(record), block.payload);
  record.reserve(record.size() + block.payload.size() + 4);
  record.append(block.payload);
  PutFixed32(&record, crc);
  return record;
}

absl::StatusOr<Block> BlockFromRecord(const RecordHeader& header, std::string payload) {
  absl::StatusOr<BlockKey> key = DecodeBlockKey(header.encoded_key);
  if (!key.ok()) return key.status();
  if (key->kind != header.kind) return absl::DataLossError("record kind does not match its key");
  Block block;
  block.key = *std::move(key);
  block.layout = header.layout;
  block.payload_crc32c = header.payload_crc32c;
  block.payload = std::move(payload);
  return block;
}

absl::StatusOr<DecodedRecord> DecodeBlockRecord(absl::string_view record) {
  RecordHeader header;
  if (ParseRecordHeader(record, &header) != HeaderParse::kOk) {
    return absl::DataLossError("record header is truncated or corrupt");
  }
  if (header.type != RecordType::kBlock) return absl::DataLossError("not a block record");
  if (static_cast<int64_t>(record.size()) != header.record_bytes()) {
    return absl::DataLossError(absl::StrCat("record is ", record.size(), " bytes, its header says ",
                                            header.record_bytes()));
  }
  const size_t crc_at = record.size() - 4;
  if (crc32c::Value(record.data(), crc_at) != GetFixed32(record.data() + crc_at)) {
    return absl::DataLossError("record checksum mismatch");
  }
  absl::StatusOr<Block> block = BlockFromRecord(
      header, std::string(record.substr(static_cast<size_t>(header.header_bytes()),
                                        static_cast<size_t>(header.payload_bytes))));
  if (!block.ok()) return block.status();
  return DecodedRecord{*std::move(block), header.expiry_unix_ns};
}

}  // namespace gqa::kvstore
