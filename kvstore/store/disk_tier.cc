// DiskTier: Put/Get/Delete and the index. Segment files, reclamation and the
// restart scan are in disk_tier_segments.cc.
#include "kvstore/store/disk_tier.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "kvstore/store/block_key_codec.h"

namespace gqa::kvstore {
namespace {

// A failed read as Get reports it: a segment dropped since the index lookup
// is a miss; any other error an unavailable disk.
absl::Status ReadError(const absl::Status& status) {
  if (absl::IsNotFound(status)) return absl::NotFoundError("not in the disk tier");
  return absl::UnavailableError(absl::StrCat("disk tier read failed: ", status.message()));
}

}  // namespace

DiskTier::DiskTier(DiskTierOptions options)
    : env_(options.env),
      dir_(std::move(options.dir)),
      capacity_bytes_(options.capacity_bytes),
      segment_bytes_(
          std::max<int64_t>(1, std::min(options.segment_bytes, options.capacity_bytes / 4))),
      sync_writes_(options.sync_writes) {}

absl::StatusOr<std::unique_ptr<DiskTier>> DiskTier::Open(DiskTierOptions options) {
  if (options.env == nullptr || options.dir.empty()) {
    return absl::InvalidArgumentError("the disk tier needs an Env and a directory");
  }
  if (options.capacity_bytes <= 0 || options.segment_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the disk tier needs capacity_bytes > 0 and segment_bytes > 0, got ",
                     options.capacity_bytes, " and ", options.segment_bytes));
  }
  RETURN_IF_ERROR(Annotate(options.env->CreateDirs(options.dir), "disk tier"));
  std::unique_ptr<DiskTier> tier(new DiskTier(std::move(options)));
  {
    absl::MutexLock lock(&tier->mu_);
    RETURN_IF_ERROR(tier->LoadSegments());
  }
  return tier;
}

DiskTier::~DiskTier() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, segment] : segments_) {
    if (segment->writer != nullptr) (void)segment->writer->Close();
  }
}

void DiskTier::UnindexLocked(Index::iterator it) {
  const IndexEntry& entry = it->second;
  segments_.at(entry.segment_id)->num_live -= 1;
  if (entry.expiry_ns != 0) expiries_.erase({entry.expiry_ns, it->first});
  (entry.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) -= 1;
  index_.erase(it);
}

bool DiskTier::ExpireIfDueLocked(Index::iterator it, int64_t now_ns) {
  if (it->second.expiry_ns == 0 || now_ns < it->second.expiry_ns) return false;
  UnindexLocked(it);
  counters_.expired.fetch_add(1);
  return true;
}

int64_t DiskTier::SweepLocked(int64_t now_ns) {
  int64_t num_expired = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now_ns) {
    auto it = index_.find(expiries_.begin()->second);
    CHECK(it != index_.end());
    CHECK(ExpireIfDueLocked(it, now_ns));
    ++num_expired;
  }
  return num_expired;
}

int64_t DiskTier::ToUnixNs(int64_t expiry_ns) {
  if (expiry_ns == 0) return 0;
  return env_->NowUnixNanos() + (expiry_ns - env_->NowNanos());
}

void DiskTier::DeleteLocked(Index::iterator it) {
  const std::string key = it->first;
  const IndexEntry entry = it->second;
  UnindexLocked(it);
  RecordHeader tombstone;
  tombstone.type = RecordType::kTombstone;
  tombstone.kind = entry.kind;
  tombstone.expiry_unix_ns = ToUnixNs(entry.expiry_ns);
  tombstone.encoded_key = key;
  // NOTE: tombstones skip the budget check: they are small, and deleting must
  // work on a full disk (it is how the disk becomes less full).
  absl::StatusOr<std::pair<Segment*, int64_t>> where =
      AppendLocked(entry.kind, EncodeRecordHeader(tombstone), "");
  if (!where.ok()) {
    LOG(WARNING) << "disk tier could not write a tombstone (the deleted block may reappear "
                    "after a restart until it expires or is evicted): "
                 << where.status();
    return;
  }
  Segment* segment = where->first;
  if (segment->id == entry.segment_id) return;  // they share their fate
  auto [pin, inserted] = segment->pins.try_emplace(entry.segment_id, entry.expiry_ns);
  if (!inserted) {
    pin->second =
        (pin->second == 0 || entry.expiry_ns == 0) ? 0 : std::max(pin->second, entry.expiry_ns);
  }
}

absl::StatusOr<PutOutcome> DiskTier::Put(BlockRef block, int64_t expiry_ns) {
  const BlockKind kind = block->key.kind;
  RecordHeader header = BlockRecordHeader(*block, 0);
  absl::MutexLock lock(&mu_);
  const int64_t now_ns = env_->NowNanos();
  auto it = index_.find(header.encoded_key);
  if (it != index_.end() && !ExpireIfDueLocked(it, now_ns) && kind == BlockKind::kPrefix) {
    return PutOutcome::kAlreadyPresent;
  }
  const int64_t stored_expiry_ns = kind == BlockKind::kSwap ? expiry_ns : 0;
  header.expiry_unix_ns = ToUnixNs(stored_expiry_ns);
  const int64_t record_bytes = header.record_bytes();
  if (record_bytes > capacity_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a block of ", record_bytes, " bytes exceeds the disk tier's ", capacity_bytes_, " bytes"));
  }
  RETURN_IF_ERROR(EnsureRoomLocked(record_bytes));
  // A replaced swap block: its tombstone goes first, so a restart replays
  // old, tombstone, new.
  it = index_.find(header.encoded_key);
  if (it != index_.end()) DeleteLocked(it);
  ASSIGN_OR_RETURN(auto where, AppendLocked(kind, EncodeRecordHeader(header), block->payload));
  auto [segment, offset] = where;
  segment->block_records.emplace_back(header.encoded_key, offset);
  segment->num_live += 1;
  if (stored_expiry_ns != 0) expiries_.insert({stored_expiry_ns, header.encoded_key});
  (kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) += 1;
  index_.insert_or_assign(
      std::move(header.encoded_key),
      IndexEntry{segment->id, offset, header.header_bytes(), record_bytes, kind, stored_expiry_ns});
  return PutOutcome::kStored;
}

void DiskTier::DropCorruptLocked(const std::string& key, const IndexEntry& seen) {
  auto it = index_.find(key);
  if (it == index_.end() || it->second.segment_id != seen.segment_id ||
      it->second.offset != seen.offset) {
    return;  // already gone or replaced
  }
  LOG(ERROR) << "disk tier dropped a record failing its checksum segment="
             << segments_.at(seen.segment_id)->path << " offset=" << seen.offset;
  UnindexLocked(it);
  counters_.corrupt_dropped.fetch_add(1);
}

absl::StatusOr<Block> DiskTier::Get(const BlockKey& key) {
  const std::string encoded = EncodeBlockKey(key);
  IndexEntry entry;
  std::shared_ptr<RandomAccessFile> reader;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(encoded);
    if (it == index_.end() || ExpireIfDueLocked(it, env_->NowNanos())) {
      return absl::NotFoundError("not in the disk tier");
    }
    entry = it->second;
    reader = segments_.at(entry.segment_id)->reader;
  }
  // Read and verify outside the lock: records never change once written,
  // and the reader stays open while we hold it.
  RecordHeader header;
  std::string payload;
  bool intact = reader != nullptr;
  if (intact) {
    absl::StatusOr<std::string> head =
        reader->Read(static_cast<uint64_t>(entry.offset), static_cast<size_t>(entry.header_bytes));
    if (!head.ok()) return ReadError(head.status());
    intact = static_cast<int64_t>(head->size()) == entry.header_bytes &&
             ParseRecordHeader(*head, &header) == HeaderParse::kOk &&
             header.type == RecordType::kBlock && header.encoded_key == encoded &&
             header.record_bytes() == entry.record_bytes;
    if (intact) {
      const size_t payload_bytes = static_cast<size_t>(header.payload_bytes);
      absl::StatusOr<std::string> body =
          reader->Read(static_cast<uint64_t>(entry.offset + entry.header_bytes), payload_bytes + 4);
      if (!body.ok()) return ReadError(body.status());
      payload = *std::move(body);
      intact = payload.size() == payload_bytes + 4 &&
               RecordCrc(*head, absl::string_view(payload.data(), payload_bytes)) ==
                   GetFixed32(payload.data() + payload_bytes);
      payload.resize(payload_bytes);
    }
  }
  absl::StatusOr<Block> block =
      intact ? BlockFromRecord(header, std::move(payload)) : absl::DataLossError("corrupt");
  if (!block.ok()) {
    absl::MutexLock lock(&mu_);
    DropCorruptLocked(encoded, entry);
    return absl::NotFoundError("a disk tier record failed its checksum and was dropped");
  }
  counters_.hits.fetch_add(1);
  return block;
}

absl::StatusOr<bool> DiskTier::Contains(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(EncodeBlockKey(key));
  return it != index_.end() && !ExpireIfDueLocked(it, env_->NowNanos());
}

absl::StatusOr<bool> DiskTier::Delete(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(EncodeBlockKey(key));
  if (it == index_.end() || ExpireIfDueLocked(it, env_->NowNanos())) return false;
  DeleteLocked(it);
  return true;
}

absl::StatusOr<int64_t> DiskTier::DeleteSwapSequence(absl::string_view tenant,
                                                     absl::string_view seq_id) {
  const std::string prefix = SwapSequencePrefix(tenant, seq_id);
  absl::MutexLock lock(&mu_);
  SweepLocked(env_->NowNanos());
  int64_t num_deleted = 0;
  for (auto it = index_.lower_bound(prefix);
       it != index_.end() && absl::StartsWith(it->first, prefix); it = index_.lower_bound(prefix)) {
    DeleteLocked(it);
    ++num_deleted;
  }
  return num_deleted;
}

int64_t DiskTier::SweepExpired() {
  absl::MutexLock lock(&mu_);
  return SweepLocked(env_->NowNanos());
}

TierStats DiskTier::Stats() {
  TierStats stats;
  stats.tier = TierKind::kDisk;
  stats.capacity_bytes = capacity_bytes_;
  {
    absl::MutexLock lock(&mu_);
    stats.used_bytes = total_bytes_;
    stats.num_prefix_blocks = num_prefix_blocks_;
    stats.num_swap_blocks = num_swap_blocks_;
  }
  counters_.FillStats(stats);
  return stats;
}

int64_t DiskTier::NumSegmentsForTesting() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(segments_.size());
}

std::string DiskTier::SegmentPathForTesting(const BlockKey& key) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(EncodeBlockKey(key));
  return it == index_.end() ? "" : segments_.at(it->second.segment_id)->path;
}

}  // namespace gqa::kvstore
