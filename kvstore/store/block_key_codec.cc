#include "kvstore/store/block_key_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace gqa::kvstore {
namespace {

constexpr uint8_t kPrefixCode = 1;
constexpr uint8_t kSwapCode = 2;

void PutString(std::string* out, absl::string_view s) {
  PutFixed32(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

// Reads from the front of `in`; false when it is too short.
class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = GetFixed32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = GetFixed64(in_.data());
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    uint32_t n;
    if (!U32(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

}  // namespace

void PutFixed16(std::string* out, uint16_t value) {
  char buf[2] = {static_cast<char>(value), static_cast<char>(value >> 8)};
  out->append(buf, 2);
}
void PutFixed32(std::string* out, uint32_t value) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 4);
}
void PutFixed64(std::string* out, uint64_t value) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 8);
}
uint16_t GetFixed16(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t GetFixed32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}
uint64_t GetFixed64(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}

uint8_t DTypeCode(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 1;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 3;
    case DType::kFp8E4M3:
      return 4;
    case DType::kFp8E5M2:
      return 5;
  }
  return 0;
}

absl::StatusOr<DType> DTypeFromCode(uint8_t code) {
  switch (code) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kF16;
    case 3:
      return DType::kBF16;
    case 4:
      return DType::kFp8E4M3;
    case 5:
      return DType::kFp8E5M2;
    default:
      return absl::DataLossError(absl::StrCat("unknown dtype code ", code));
  }
}

std::string EncodeBlockKey(const BlockKey& key) {
  std::string out;
  out.reserve(32 + key.tenant.size() + key.logical_id.size() + key.seq_id.size());
  PutString(&out, key.tenant);
  if (key.kind == BlockKind::kPrefix) {
    out.push_back(static_cast<char>(kPrefixCode));
    PutString(&out, key.logical_id);
  } else {
    out.push_back(static_cast<char>(kSwapCode));
    PutString(&out, key.seq_id);
    PutFixed64(&out, static_cast<uint64_t>(key.block_idx));
  }
  PutFixed32(&out, static_cast<uint32_t>(key.shard.first_kv_head));
  PutFixed32(&out, static_cast<uint32_t>(key.shard.num_kv_heads));
  out.push_back(static_cast<char>(DTypeCode(key.dtype)));
  return out;
}

absl::StatusOr<BlockKey> DecodeBlockKey(absl::string_view encoded) {
  Reader reader(encoded);
  BlockKey key;
  uint8_t kind = 0;
  bool ok = reader.String(&key.tenant) && reader.U8(&kind);
  if (ok && kind == kPrefixCode) {
    key.kind = BlockKind::kPrefix;
    ok = reader.String(&key.logical_id);
  } else if (ok && kind == kSwapCode) {
    key.kind = BlockKind::kSwap;
    uint64_t block_idx = 0;
    ok = reader.String(&key.seq_id) && reader.U64(&block_idx);
    key.block_idx = static_cast<int64_t>(block_idx);
  } else {
    ok = false;
  }
  uint32_t first = 0, num = 0;
  uint8_t dtype_code = 0;
  ok = ok && reader.U32(&first) && reader.U32(&num) && reader.U8(&dtype_code) && reader.done();
  if (!ok) return absl::DataLossError("malformed block key encoding");
  key.shard.first_kv_head = static_cast<int32_t>(first);
  key.shard.num_kv_heads = static_cast<int32_t>(num);
  absl::StatusOr<DType> dtype = DTypeFromCode(dtype_code);
  if (!dtype.ok()) return dtype.status();
  key.dtype = *dtype;
  return key;
}

std::string SwapSequencePrefix(absl::string_view tenant, absl::string_view seq_id) {
  std::string out;
  PutString(&out, tenant);
  out.push_back(static_cast<char>(kSwapCode));
  PutString(&out, seq_id);
  return out;
}

}  // namespace gqa::kvstore
