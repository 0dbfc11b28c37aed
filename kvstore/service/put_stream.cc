#include "kvstore/service/put_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/crc32c.h"
#include "core/grpc/status_convert.h"
#include "core/status.h"

namespace gqa::kvstore {

PutStream::PutStream(const ServiceContext& context) : context_(context), start_(absl::Now()) {}

void PutStream::Start(const absl::Status& admission) {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (!admission.ok()) {
      finished_ = true;
      finish = admission;
    } else {
      finish = PumpLocked();
    }
  }
  if (finish.has_value()) FinishCall(*finish);
}

absl::Status PutStream::HandleMessageLocked() {
  if (request_.has_header()) {
    if (current_.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block ", current_->index, ": a header arrived after ",
          current_->put.block.payload.size(), " of its ", current_->put.payload_bytes,
          " payload bytes; send the whole payload before the next block's header"));
    }
    ASSIGN_OR_RETURN(PutHeader put, PutHeaderFromProto(request_, context_.limits, num_headers_));
    Assembly assembly;
    assembly.put = std::move(put);
    assembly.index = num_headers_++;
    current_ = std::move(assembly);
  } else if (!current_.has_value()) {
    if (num_headers_ == 0) {
      return absl::InvalidArgumentError(
          "a chunk arrived before any header; start each block with a message carrying its header");
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "a chunk arrived after block ", num_headers_ - 1,
        " was complete; start the next block with a message carrying its header"));
  }
  return AppendChunkLocked();
}

absl::Status PutStream::AppendChunkLocked() {
  Assembly& block = *current_;
  std::string& payload = block.put.block.payload;
  std::string* chunk = request_.mutable_chunk();
  if (static_cast<int64_t>(chunk->size()) > kMaxChunkBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block ", block.index, ": a chunk of ", chunk->size(), " bytes exceeds the limit of ",
        kMaxChunkBytes, " bytes (1 MiB) per message; split the payload into smaller chunks"));
  }
  const int64_t received = static_cast<int64_t>(payload.size());
  if (received + static_cast<int64_t>(chunk->size()) > block.put.payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block ", block.index, ": a chunk of ", chunk->size(), " bytes after ", received,
        " goes past the payload's size of ", block.put.payload_bytes,
        " bytes (what its layout implies); check the layout or the chunking"));
  }
  if (payload.empty()) {
    payload.swap(*chunk);  // the common case: the first chunk, moved, not copied
    if (static_cast<int64_t>(payload.size()) < block.put.payload_bytes) {
      payload.reserve(block.put.payload_bytes);
    }
  } else {
    payload.append(*chunk);
  }
  // NOTE: the checksum runs over the bytes where they now lie in the block,
  // after the append's copy, so the store can take them as checked
  // (BlockStore::PutChecked) without a pass of its own.
  block.crc = crc32c::Extend(block.crc, payload.data() + received, payload.size() - received);
  if (static_cast<int64_t>(payload.size()) < block.put.payload_bytes) return absl::OkStatus();
  if (block.crc != block.put.block.payload_crc32c) {
    if (context_.metrics != nullptr) context_.metrics->AddPutChecksumMismatch();
    return absl::DataLossError(absl::StrFormat(
        "block %d: the payload's crc32c is 0x%08x, the header says 0x%08x; the block was not "
        "stored (resend it)",
        block.index, block.crc, block.put.block.payload_crc32c));
  }
  ready_ = std::move(current_);
  current_.reset();
  return absl::OkStatus();
}

void PutStream::StartCommitLocked() {
  Assembly assembly = std::move(*ready_);
  ready_.reset();
  const int64_t index = assembly.index;
  const int64_t bytes = assembly.put.payload_bytes;
  const int64_t ttl_ms = assembly.put.swap_ttl_ms;
  // The payload was checked against its crc32c in AppendChunkLocked and only
  // moved since, so the store's own pass is skipped.
  if (context_.inline_store_calls) {
    // A memory-only store never waits on I/O: commit here, on this thread.
    RecordCommitLocked(index, bytes,
                       context_.store->PutChecked(std::move(assembly.put.block), ttl_ms));
    return;
  }
  // NOTE: the store may do disk or Redis I/O, so the commit runs on the
  // executor, never on a gRPC callback thread.
  commit_in_flight_ = true;
  context_.executor->Schedule([this, index, bytes, ttl_ms,
                               block = std::move(assembly.put.block)]() mutable {
    absl::StatusOr<PutOutcome> outcome = context_.store->PutChecked(std::move(block), ttl_ms);
    std::optional<absl::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      commit_in_flight_ = false;
      RecordCommitLocked(index, bytes, std::move(outcome));
      finish = PumpLocked();
    }
    if (finish.has_value()) FinishCall(*finish);
  });
}

void PutStream::RecordCommitLocked(int64_t index, int64_t payload_bytes,
                                   absl::StatusOr<PutOutcome> outcome) {
  if (!outcome.ok()) {
    store_error_ = Annotate(outcome.status(), absl::StrCat("block ", index));
    ready_.reset();
  } else {
    unsent_.push_back(*outcome);
    if (context_.metrics != nullptr) context_.metrics->ObservePutBlock(*outcome, payload_bytes);
  }
}

void PutStream::OnReadDone(bool ok) {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
    if (!finished_ && !cancelled_) {
      if (!ok) {
        reads_done_ = true;
        if (current_.has_value()) {
          read_error_ = absl::InvalidArgumentError(absl::StrCat(
              "the stream ended mid-block: block ", current_->index, " has ",
              current_->put.block.payload.size(), " of its ", current_->put.payload_bytes,
              " payload bytes; the block was discarded"));
          current_.reset();
        }
      } else if (absl::Status handled = HandleMessageLocked(); !handled.ok()) {
        read_error_ = std::move(handled);
        current_.reset();
      }
    }
    finish = PumpLocked();
  }
  if (finish.has_value()) FinishCall(*finish);
}

void PutStream::OnWriteDone(bool ok) {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) cancelled_ = true;  // the stream is broken: nobody reads the answers
    finish = PumpLocked();
  }
  if (finish.has_value()) FinishCall(*finish);
}

void PutStream::OnCancel() {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    finish = PumpLocked();
  }
  if (finish.has_value()) FinishCall(*finish);
}

void PutStream::OnDone() {
  context_.calls->End();
  delete this;
}

std::optional<absl::Status> PutStream::PumpLocked() {
  if (finished_) return std::nullopt;
  if (cancelled_) {
    // A commit in flight still calls back into this reactor: wait for it.
    if (commit_in_flight_ || write_in_flight_) return std::nullopt;
    finished_ = true;
    return absl::CancelledError("the client cancelled the call");
  }
  // The commit first: an inline one has its answer ready for the write.
  if (!commit_in_flight_ && ready_.has_value() && store_error_.ok()) StartCommitLocked();
  if (!write_in_flight_ && !unsent_.empty()) {
    response_.set_outcome(PutOutcomeToProto(unsent_.front()));
    unsent_.pop_front();
    write_in_flight_ = true;
    StartWrite(&response_);
  }
  if (!read_in_flight_ && !reads_done_ && read_error_.ok() && store_error_.ok() &&
      !ready_.has_value() && unsent_.size() < kMaxUnsentAnswers) {
    read_in_flight_ = true;
    StartRead(&request_);
  }
  if (write_in_flight_ || commit_in_flight_ || !unsent_.empty()) return std::nullopt;
  if (!store_error_.ok()) {
    finished_ = true;
    return store_error_;
  }
  if (!read_error_.ok()) {
    finished_ = true;
    return read_error_;
  }
  if (reads_done_) {
    finished_ = true;
    return absl::OkStatus();
  }
  return std::nullopt;
}

void PutStream::FinishCall(const absl::Status& status) {
  // NOTE: called without mu_ and as the last use of this object: once Finish
  // is called, OnDone may delete it on another thread.
  context_.ObserveRpc(KvStoreRpc::kPut, start_, status);
  Finish(ToGrpcStatus(status));
}

}  // namespace gqa::kvstore
