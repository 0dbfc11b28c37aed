#include "router/http/generate_stream.h"

#include <utility>

#include "core/grpc/status_convert.h"

namespace gqa {

GenerateStream::GenerateStream(v1::Inference::Stub* stub, const v1::GenerateRequest& request,
                               const std::optional<std::string>& authorization) {
  if (authorization.has_value()) context_.AddMetadata("authorization", *authorization);
  stub->async()->Generate(&context_, &request, this);
  StartRead(&incoming_);
  StartCall();
}

GenerateStream::~GenerateStream() {
  bool resume = false;
  {
    absl::MutexLock lock(&mu_);
    resume = std::exchange(read_paused_, false);
  }
  if (resume) StartRead(&incoming_);  // a read must be pending for the call to end
  Cancel();
  ended_.WaitForNotification();
}

void GenerateStream::Cancel() { context_.TryCancel(); }

GenerateStream::Event GenerateStream::Next(absl::Duration timeout, v1::GenerateResponse* message,
                                           absl::Status* status) {
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &GenerateStream::Ready), timeout)) {
      return Event::kTimeout;
    }
    if (buffered_.empty()) {
      *status = status_;
      return Event::kEnd;
    }
    *message = std::move(buffered_.front());
    buffered_.pop_front();
    if (!std::exchange(read_paused_, false)) return Event::kMessage;
  }
  // NOTE(http): outside the lock: gRPC may run OnReadDone inline.
  StartRead(&incoming_);
  return Event::kMessage;
}

void GenerateStream::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone follows
  {
    absl::MutexLock lock(&mu_);
    buffered_.push_back(std::move(incoming_));
    incoming_.Clear();
    if (buffered_.size() >= kMaxBuffered) {
      read_paused_ = true;  // Next() resumes reading
      return;
    }
  }
  StartRead(&incoming_);
}

void GenerateStream::OnDone(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    status_ = FromGrpcStatus(status);
    done_ = true;
  }
  ended_.Notify();
}

}  // namespace gqa
