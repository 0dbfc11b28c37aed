// DiskTier: segment files (create, append, seal, drop), space reclamation
// under the budget, and the restart scan that rebuilds the index.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "kvstore/store/block_key_codec.h"
#include "kvstore/store/disk_tier.h"
#include "kvstore/store/segment_scan.h"

namespace gqa::kvstore {
namespace {

// A failed write as Put reports it: a full disk stays RESOURCE_EXHAUSTED,
// anything else is an unavailable disk.
absl::Status WriteError(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) {
    return absl::ResourceExhaustedError(absl::StrCat("disk tier: disk full: ", status.message()));
  }
  return absl::UnavailableError(absl::StrCat("disk tier write failed: ", status.message()));
}

}  // namespace

bool DiskTier::IsPinned(const Segment& segment, int64_t now_ns) const {
  for (const auto& [target, expiry_ns] : segment.pins) {
    if (segments_.contains(target) && (expiry_ns == 0 || now_ns < expiry_ns)) return true;
  }
  return false;
}

bool DiskTier::IsReclaimable(const Segment& segment, int64_t now_ns) const {
  return (segment.num_live == 0 || segment.stream == BlockKind::kPrefix) &&
         !IsPinned(segment, now_ns);
}

absl::Status DiskTier::EnsureRoomLocked(int64_t record_bytes) {
  if (total_bytes_ + record_bytes <= capacity_bytes_) return absl::OkStatus();
  const int64_t now_ns = env_->NowNanos();
  SweepLocked(now_ns);  // expired swap blocks free their segments
  int64_t reclaimable = 0;
  for (const auto& [id, segment] : segments_) {
    if (IsReclaimable(*segment, now_ns)) reclaimable += segment->size_bytes;
  }
  if (total_bytes_ - reclaimable + record_bytes > capacity_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "disk tier full: ", total_bytes_, " of ", capacity_bytes_, " bytes used, ",
        total_bytes_ - reclaimable, " of them by segments holding live swap blocks; a ",
        record_bytes,
        "-byte record does not fit. Delete finished sequences or raise the disk budget"));
  }
  while (total_bytes_ + record_bytes > capacity_bytes_) {
    // First a segment with nothing live (free to drop), then the oldest
    // prefix segment (its live blocks are evicted). Oldest first keeps
    // tombstones, which are always younger than what they delete, alive
    // while their targets are.
    uint64_t victim = 0;
    for (const auto& [id, segment] : segments_) {
      if (segment->num_live == 0 && !IsPinned(*segment, now_ns)) {
        victim = id;
        break;
      }
    }
    for (auto it = segments_.begin(); victim == 0 && it != segments_.end(); ++it) {
      if (it->second->stream == BlockKind::kPrefix && !IsPinned(*it->second, now_ns)) {
        victim = it->first;
      }
    }
    if (victim == 0) {
      return absl::ResourceExhaustedError("disk tier full: nothing left to reclaim");
    }
    DropSegmentLocked(victim);
  }
  return absl::OkStatus();
}

void DiskTier::DropSegmentLocked(uint64_t id) {
  auto node = segments_.find(id);
  CHECK(node != segments_.end());
  Segment& segment = *node->second;
  int64_t num_evicted = 0;
  for (const auto& [key, offset] : segment.block_records) {
    auto it = index_.find(key);
    if (it != index_.end() && it->second.segment_id == id && it->second.offset == offset) {
      UnindexLocked(it);
      ++num_evicted;
    }
  }
  counters_.evictions.fetch_add(num_evicted);
  if (segment.writer != nullptr) (void)segment.writer->Close();
  if (active_prefix_ == id) active_prefix_ = 0;
  if (active_swap_ == id) active_swap_ = 0;
  if (absl::Status status = env_->DeleteFile(segment.path); !status.ok()) {
    LOG(WARNING) << "disk tier could not delete segment=" << segment.path << ": " << status;
  }
  VLOG(1) << "disk tier dropped segment=" << segment.path << " bytes=" << segment.size_bytes
          << " evicted=" << num_evicted;
  total_bytes_ -= segment.size_bytes;
  segments_.erase(node);
}

absl::StatusOr<DiskTier::Segment*> DiskTier::ActiveSegmentLocked(BlockKind stream) {
  uint64_t& active = stream == BlockKind::kPrefix ? active_prefix_ : active_swap_;
  if (active != 0) {
    Segment* segment = segments_.at(active).get();
    if (segment->size_bytes < segment_bytes_) return segment;
    if (absl::Status status = segment->writer->Close(); !status.ok()) {
      LOG(WARNING) << "disk tier: closing segment=" << segment->path << ": " << status;
    }
    segment->writer.reset();
    active = 0;
  }
  auto segment = std::make_unique<Segment>();
  segment->id = next_segment_id_++;
  segment->stream = stream;
  segment->path = absl::StrCat(dir_, "/", SegmentFileName(segment->id, stream));
  absl::StatusOr<std::unique_ptr<AppendableFile>> writer = env_->NewAppendableFile(segment->path);
  if (!writer.ok()) return WriteError(writer.status());
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> reader =
      env_->NewRandomAccessFile(segment->path);
  if (!reader.ok()) return WriteError(reader.status());
  segment->writer = *std::move(writer);
  segment->reader = *std::move(reader);
  segment->size_bytes = static_cast<int64_t>(segment->writer->Size());
  total_bytes_ += segment->size_bytes;
  active = segment->id;
  Segment* raw = segment.get();
  segments_.emplace(raw->id, std::move(segment));
  return raw;
}

absl::StatusOr<std::pair<DiskTier::Segment*, int64_t>> DiskTier::AppendLocked(
    BlockKind stream, absl::string_view header, absl::string_view payload) {
  ASSIGN_OR_RETURN(Segment * segment, ActiveSegmentLocked(stream));
  const int64_t offset = segment->size_bytes;
  std::string trailer;
  PutFixed32(&trailer, RecordCrc(header, payload));
  AppendableFile& writer = *segment->writer;
  absl::Status status = writer.Append(header);
  if (status.ok()) status = writer.Append(payload);
  if (status.ok()) status = writer.Append(trailer);
  if (status.ok() && sync_writes_) status = writer.Sync();
  const int64_t new_size = static_cast<int64_t>(writer.Size());
  total_bytes_ += new_size - segment->size_bytes;
  segment->size_bytes = new_size;
  if (!status.ok()) {
    // Seal the segment so the torn bytes stay its tail; the next write
    // starts a new segment. One with no intact record is removed at once.
    LOG(WARNING) << "disk tier append failed segment=" << segment->path << ": " << status;
    (void)writer.Close();
    segment->writer.reset();
    (stream == BlockKind::kPrefix ? active_prefix_ : active_swap_) = 0;
    if (segment->num_records == 0) DropSegmentLocked(segment->id);
    return WriteError(status);
  }
  segment->num_records += 1;
  return std::make_pair(segment, offset);
}

void DiskTier::ApplyScannedRecord(Segment& segment, int64_t offset, const RecordHeader& header,
                                  int64_t now_ns, int64_t now_unix_ns) {
  segment.num_records += 1;
  const int64_t expiry_ns =
      header.expiry_unix_ns == 0
          ? 0
          : std::max<int64_t>(1, now_ns + (header.expiry_unix_ns - now_unix_ns));
  const bool expired = header.expiry_unix_ns != 0 && header.expiry_unix_ns <= now_unix_ns;
  auto it = index_.find(header.encoded_key);
  if (header.type == RecordType::kTombstone) {
    if (it == index_.end()) return;
    const uint64_t target = it->second.segment_id;
    UnindexLocked(it);
    if (target != segment.id && !expired) {
      auto [pin, inserted] = segment.pins.try_emplace(target, expiry_ns);
      if (!inserted) {
        pin->second = (pin->second == 0 || expiry_ns == 0) ? 0 : std::max(pin->second, expiry_ns);
      }
    }
    return;
  }
  if (it != index_.end()) UnindexLocked(it);  // superseded by this later record
  segment.block_records.emplace_back(header.encoded_key, offset);
  if (expired) {
    counters_.expired.fetch_add(1);
    return;
  }
  segment.num_live += 1;
  if (expiry_ns != 0) expiries_.insert({expiry_ns, header.encoded_key});
  (header.kind == BlockKind::kPrefix ? num_prefix_blocks_ : num_swap_blocks_) += 1;
  index_.insert_or_assign(header.encoded_key,
                          IndexEntry{segment.id, offset, header.header_bytes(),
                                     header.record_bytes(), header.kind, expiry_ns});
}

absl::Status DiskTier::LoadSegments() {
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir(dir_);
  if (!names.ok()) return Annotate(names.status(), "disk tier");
  std::vector<SegmentName> found;
  for (const std::string& name : *names) {
    if (std::optional<SegmentName> parsed = ParseSegmentFileName(name)) found.push_back(*parsed);
  }
  std::sort(found.begin(), found.end(),
            [](const SegmentName& a, const SegmentName& b) { return a.id < b.id; });
  const int64_t now_ns = env_->NowNanos();
  const int64_t now_unix_ns = env_->NowUnixNanos();
  int64_t num_corrupt = 0;
  for (const SegmentName& name : found) {
    auto owned = std::make_unique<Segment>();
    Segment& segment = *owned;
    segment.id = name.id;
    segment.stream = name.stream;
    segment.path = absl::StrCat(dir_, "/", SegmentFileName(name.id, name.stream));
    segments_.emplace(name.id, std::move(owned));
    next_segment_id_ = std::max(next_segment_id_, name.id + 1);
    absl::StatusOr<std::unique_ptr<MappedFile>> mapped = env_->MapFile(segment.path);
    if (!mapped.ok()) {
      // Unreadable: nothing of it is served; it is reclaimed like any dead segment.
      LOG(ERROR) << "disk tier cannot read segment=" << segment.path << ": " << mapped.status();
      ++num_corrupt;
      absl::StatusOr<uint64_t> size = env_->GetFileSize(segment.path);
      segment.size_bytes = size.ok() ? static_cast<int64_t>(*size) : 0;
      total_bytes_ += segment.size_bytes;
      continue;
    }
    const absl::Span<const uint8_t> bytes = (*mapped)->bytes();
    segment.size_bytes = static_cast<int64_t>(bytes.size());
    total_bytes_ += segment.size_bytes;
    std::vector<std::pair<int64_t, RecordHeader>> records;
    const ScanResult scan =
        ScanSegment(absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    [&](int64_t offset, const RecordHeader& header, absl::string_view) {
                      absl::StatusOr<BlockKey> key = DecodeBlockKey(header.encoded_key);
                      if (!key.ok() || key->kind != header.kind) {
                        ++num_corrupt;  // intact bytes, but not a key this store writes
                        return;
                      }
                      records.emplace_back(offset, header);
                    });
    num_corrupt += scan.num_corrupt;
    for (const auto& [offset, header] : records) {
      ApplyScannedRecord(segment, offset, header, now_ns, now_unix_ns);
    }
    absl::StatusOr<std::unique_ptr<RandomAccessFile>> reader =
        env_->NewRandomAccessFile(segment.path);
    if (reader.ok()) {
      segment.reader = *std::move(reader);
    } else {
      LOG(ERROR) << "disk tier cannot open segment=" << segment.path << ": " << reader.status();
    }
  }
  counters_.corrupt_dropped.fetch_add(num_corrupt);
  LOG(INFO) << "disk tier opened dir=" << dir_ << " segments=" << segments_.size()
            << " bytes=" << total_bytes_ << " prefix_blocks=" << num_prefix_blocks_
            << " swap_blocks=" << num_swap_blocks_ << " corrupt_dropped=" << num_corrupt;
  return absl::OkStatus();
}

}  // namespace gqa::kvstore
