#include "router/worker_endpoint.h"

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "core/grpc/keepalive.h"
#include "core/log.h"

namespace gqa {
namespace {

std::string IdKey(const BlockId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

}  // namespace

WorkerEndpoint::WorkerEndpoint(std::string address, WorkerEndpointOptions options)
    : address_(std::move(address)), options_(std::move(options)) {
  grpc::ChannelArguments args = ClientKeepaliveArguments();
  // A restarted worker is found again within a second, not after gRPC's
  // default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Worker::NewStub(channel_);
  state_.problem = "not polled yet";
}

WorkerEndpoint::~WorkerEndpoint() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (monitor_.joinable()) monitor_.join();
  if (watcher_.joinable()) watcher_.join();
}

void WorkerEndpoint::Start() {
  monitor_ = std::thread([this] { MonitorLoop(); });
  watcher_ = std::thread([this] { WatchLoop(); });
}

WorkerState WorkerEndpoint::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

int64_t WorkerEndpoint::CachedLeadingBlocks(absl::Span<const BlockId> chain) const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const BlockId& id : chain) {
    if (!cached_.contains(IdKey(id))) break;
    ++n;
  }
  return n;
}

void WorkerEndpoint::AddStream(int64_t tokens) {
  absl::MutexLock lock(&mu_);
  state_.router_tokens += tokens;
}

void WorkerEndpoint::RemoveStream(int64_t tokens) {
  absl::MutexLock lock(&mu_);
  state_.router_tokens -= tokens;
}

bool WorkerEndpoint::SleepUnlessStopping(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), duration);
  return !stopping_;
}

void WorkerEndpoint::MonitorLoop() {
  do {
    Poll();
  } while (SleepUnlessStopping(options_.poll_interval));
}

bool WorkerEndpoint::Poll() {
  const auto deadline = [this] {
    return std::chrono::system_clock::now() +
           std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.rpc_timeout));
  };
  bool accepted = false;
  {
    absl::MutexLock lock(&mu_);
    accepted = accepted_;
  }
  if (!accepted) {
    grpc::ClientContext context;
    context.set_deadline(deadline());
    v1::InfoResponse info;
    const grpc::Status status = stub_->Info(&context, v1::InfoRequest(), &info);
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      MarkPollFailedLocked(status);
      return false;
    }
    if (info.model_fingerprint() != options_.model_fingerprint ||
        info.tokenizer_fingerprint() != options_.tokenizer_fingerprint) {
      const std::string problem = absl::StrCat(
          "serves another model or tokenizer (", info.model_name(), ", fingerprint ",
          info.model_fingerprint().substr(0, 12), ") than the router's");
      if (state_.problem != problem) LOG(WARNING) << "worker " << address_ << " " << problem;
      state_.ready = false;
      state_.problem = problem;
      return false;
    }
    state_.info = std::move(info);
    accepted_ = true;
  }
  grpc::ClientContext context;
  context.set_deadline(deadline());
  v1::LoadResponse load;
  const grpc::Status status = stub_->Load(&context, v1::LoadRequest(), &load);
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    if (state_.ready) LOG(WARNING) << "worker " << address_ << " stopped answering: "
                                   << status.error_message();
    MarkPollFailedLocked(status);
    return false;
  }
  failed_polls_ = 0;
  state_.load = load;
  state_.down = false;
  state_.draining = load.draining();
  state_.ready = !load.draining();
  state_.problem = load.draining() ? "draining" : "";
  return state_.ready;
}

void WorkerEndpoint::MarkPollFailedLocked(const grpc::Status& status) {
  accepted_ = false;  // it may come back as another process: ask Info again
  state_.ready = false;
  // One slow answer is not a dead worker; two in a row are.
  state_.down = ++failed_polls_ >= 2;
  state_.problem = absl::StrCat("unreachable: ", status.error_message());
}

void WorkerEndpoint::ApplyEvent(const v1::CacheEvent& event) {
  switch (event.kind_case()) {
    case v1::CacheEvent::kSnapshot:
      for (const std::string& id : event.snapshot().block_ids()) snapshot_parts_.insert(id);
      if (!event.snapshot().more_parts()) {
        cached_.swap(snapshot_parts_);
        snapshot_parts_.clear();
      }
      break;
    case v1::CacheEvent::kStored:
      for (const std::string& id : event.stored().block_ids()) cached_.insert(id);
      break;
    case v1::CacheEvent::kRemoved:
      for (const std::string& id : event.removed().block_ids()) cached_.erase(id);
      break;
    case v1::CacheEvent::KIND_NOT_SET:
      break;
  }
}

void WorkerEndpoint::WatchLoop() {
  do {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      watch_context_ = &context;
    }
    std::unique_ptr<grpc::ClientReader<v1::CacheEvent>> reader =
        stub_->WatchCacheEvents(&context, v1::WatchCacheEventsRequest());
    v1::CacheEvent event;
    while (reader->Read(&event)) {
      absl::MutexLock lock(&mu_);
      ApplyEvent(event);
    }
    (void)reader->Finish();
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
    cached_.clear();  // reported afresh by the next stream's snapshot
    snapshot_parts_.clear();
  } while (SleepUnlessStopping(absl::Milliseconds(500)));
}

}  // namespace gqa
