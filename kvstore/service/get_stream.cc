#include "kvstore/service/get_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/crc32c.h"
#include "core/grpc/status_convert.h"
#include "core/log.h"
#include "core/status.h"

namespace gqa::kvstore {
namespace {

// The service's own check of what the store returned: the key asked for, the
// size its layout implies, and (when the store does not verify what it
// returns, BlockStoreTraits::get_verifies_payload) the checksum. A failure is
// a store bug or corruption after the store's check; the block is never sent.
absl::Status VerifyFetched(const BlockKey& key, const Block& block, bool check_payload) {
  if (!(block.key == key)) return absl::InternalError("the store returned another key's block");
  const int64_t want = LayoutPayloadBytes(block.layout, block.key.shard, block.key.dtype);
  if (static_cast<int64_t>(block.payload.size()) != want) {
    return absl::DataLossError(absl::StrCat("payload of ", block.payload.size(),
                                            " bytes where the layout implies ", want));
  }
  if (check_payload && crc32c::Value(block.payload) != block.payload_crc32c) {
    return absl::DataLossError("payload does not match its crc32c");
  }
  return absl::OkStatus();
}

}  // namespace

GetStream::GetStream(const ServiceContext& context) : context_(context), start_(absl::Now()) {}

void GetStream::Start(const absl::Status& admission, const v1::GetRequest& request) {
  absl::Status refusal = admission;
  if (refusal.ok()) {
    absl::StatusOr<std::vector<BlockKey>> keys =
        KeysFromProto(request.keys(), context_.limits, "keys");
    if (keys.ok()) {
      keys_ = *std::move(keys);
    } else {
      refusal = keys.status();
    }
  }
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (!refusal.ok()) {
      finished_ = true;
      finish = refusal;
    } else {
      StartFetchLocked();
      finish = PumpLocked();  // an inline read has its block ready to send
    }
  }
  if (finish.has_value()) FinishCall(*finish);
}

absl::StatusOr<Block> GetStream::Fetch(size_t index) const {
  absl::StatusOr<Block> block = context_.store->Get(keys_[index]);
  if (block.ok()) {
    if (absl::Status verified = VerifyFetched(keys_[index], *block, !context_.store_verifies_get);
        !verified.ok()) {
      LOG(ERROR) << "kvstore get: the store returned a bad block for keys[" << index
                 << "]; not sent, read as absent: " << verified.message();
      if (context_.metrics != nullptr) context_.metrics->AddGetChecksumMismatch();
      block = absl::NotFoundError("corrupt");
    }
  }
  return block;
}

void GetStream::StartFetchLocked() {
  const size_t index = next_fetch_++;
  if (context_.inline_store_calls) {
    // A memory-only store never waits on I/O: read here, on this thread.
    RecordFetchLocked(index, Fetch(index));
    return;
  }
  // NOTE: the store may do disk or Redis I/O, so the read (and the checksum
  // over the payload) runs on the executor, never on a gRPC callback thread.
  fetch_in_flight_ = true;
  context_.executor->Schedule([this, index] {
    absl::StatusOr<Block> block = Fetch(index);
    std::optional<absl::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      fetch_in_flight_ = false;
      RecordFetchLocked(index, std::move(block));
      finish = PumpLocked();
    }
    if (finish.has_value()) FinishCall(*finish);
  });
}

void GetStream::RecordFetchLocked(size_t index, absl::StatusOr<Block> block) {
  if (block.ok()) {
    ready_ = *std::move(block);
    if (context_.metrics != nullptr) context_.metrics->AddGetBlock();
  } else if (absl::IsNotFound(block.status())) {
    end_status_ = absl::NotFoundError(absl::StrCat(
        "keys[", index, "] is absent (never stored, evicted, expired, corrupt, or another "
        "tenant's); the ", index, " blocks before it were sent"));
  } else {
    end_status_ = Annotate(block.status(), absl::StrCat("keys[", index, "]"));
  }
}

void GetStream::NextMessageLocked() {
  response_.Clear();
  if (!header_sent_) {
    BlockHeaderToProto(*sending_, response_.mutable_header());
    header_sent_ = true;
  }
  const int64_t n = std::min(kMaxChunkBytes, sending_bytes_ - sent_bytes_);
  if (n == sending_bytes_) {
    response_.set_chunk(std::move(sending_->payload));  // one message: no copy
  } else {
    response_.set_chunk(sending_->payload.data() + sent_bytes_, n);
  }
  sent_bytes_ += n;
  if (context_.metrics != nullptr) context_.metrics->AddGetBytes(n);
}

std::optional<absl::Status> GetStream::PumpLocked() {
  if (finished_) return std::nullopt;
  if (cancelled_) {
    // A read in flight still calls back into this reactor: wait for it.
    if (fetch_in_flight_ || write_in_flight_) return std::nullopt;
    finished_ = true;
    return absl::CancelledError("the client cancelled the call");
  }
  if (write_in_flight_) return std::nullopt;
  if (sending_.has_value() && sent_bytes_ == sending_bytes_) sending_.reset();
  bool fetch_next = false;
  if (!sending_.has_value() && ready_.has_value()) {
    sending_ = std::move(ready_);
    ready_.reset();
    sending_bytes_ = static_cast<int64_t>(sending_->payload.size());
    sent_bytes_ = 0;
    header_sent_ = false;
    fetch_next = next_fetch_ < keys_.size() && end_status_.ok() && !fetch_in_flight_;
  }
  if (sending_.has_value()) {
    NextMessageLocked();
    const bool last_message = sent_bytes_ == sending_bytes_ && !fetch_next && !fetch_in_flight_ &&
                              !ready_.has_value() && next_fetch_ == keys_.size();
    if (last_message && end_status_.ok()) {
      // The last message of the last block: it carries the OK status with
      // it (FinishCall), one operation instead of a write and a finish.
      finished_ = true;
      finish_with_write_ = true;
      return absl::OkStatus();
    }
    write_in_flight_ = true;
    StartWrite(&response_);
    // After the write has started: an inline read then overlaps it.
    if (fetch_next) StartFetchLocked();
    return std::nullopt;
  }
  if (fetch_in_flight_ || ready_.has_value()) return std::nullopt;
  finished_ = true;
  return end_status_;  // OK once every key was sent
}

void GetStream::OnWriteDone(bool ok) {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) cancelled_ = true;  // the stream is broken
    finish = PumpLocked();
  }
  if (finish.has_value()) FinishCall(*finish);
}

void GetStream::OnCancel() {
  std::optional<absl::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    finish = PumpLocked();
  }
  if (finish.has_value()) FinishCall(*finish);
}

void GetStream::OnDone() {
  context_.calls->End();
  delete this;
}

void GetStream::FinishCall(const absl::Status& status) {
  // NOTE: called without mu_ and as the last use of this object: once Finish
  // is called, OnDone may delete it on another thread.
  bool with_write = false;
  {
    absl::MutexLock lock(&mu_);
    with_write = finish_with_write_;  // finished_ is set: nothing changes it now
  }
  context_.ObserveRpc(KvStoreRpc::kGet, start_, status);
  if (with_write) {
    StartWriteAndFinish(&response_, grpc::WriteOptions(), ToGrpcStatus(status));
  } else {
    Finish(ToGrpcStatus(status));
  }
}

}  // namespace gqa::kvstore
