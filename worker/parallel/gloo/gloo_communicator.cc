#include "worker/parallel/gloo/gloo_communicator.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/transport/tcp/device.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

absl::Status FromGloo(int rank, const char* what, const std::exception& e) {
  const std::string message = e.what();
  const bool timed_out = message.find("Timed out") != std::string::npos ||
                         message.find("timed out") != std::string::npos;
  const std::string text = absl::StrCat("tp rank ", rank, ": ", what, " failed: ", message);
  return timed_out ? absl::DeadlineExceededError(
                         absl::StrCat(text, " (a peer rank is stuck or gone)"))
                   : absl::UnavailableError(absl::StrCat(text, " (a peer rank is gone)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GlooCommunicator>> GlooCommunicator::Create(
    const GlooOptions& options) {
  if (options.size < 1 || options.rank < 0 || options.rank >= options.size) {
    return absl::InvalidArgumentError(absl::StrCat("tp rank ", options.rank, " outside [0, ",
                                                   options.size, ")"));
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError("tp timeout must be positive");
  }
  std::unique_ptr<TcpStoreServer> server;
  if (options.rank == 0 && options.host_store) {
    auto started = TcpStoreServer::Start(options.store_address);
    if (!started.ok()) return started.status();
    server = std::move(*started);
  }
  auto store = TcpStore::Connect(options.store_address, options.timeout);
  if (!store.ok()) return store.status();
  gloo::transport::tcp::attr attr;
  attr.hostname = options.listen_host.empty() ? (*store)->local_host() : options.listen_host;
  std::shared_ptr<gloo::rendezvous::Context> context;
  try {
    std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
    context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.size);
    context->setTimeout(options.timeout);
    context->connectFullMesh(**store, device);
  } catch (const std::exception& e) {
    return FromGloo(options.rank, "rendezvous", e);
  }
  std::unique_ptr<GlooCommunicator> comm(
      new GlooCommunicator(options.rank, options.size, options.timeout, std::move(context)));
  // Every rank has read every address once all have connected; only then may
  // rank 0 close the store.
  absl::Status ready = comm->Barrier();
  if (!ready.ok()) return ready;
  LOG(INFO) << "tp group joined rank=" << options.rank << " size=" << options.size
            << " listen=" << attr.hostname;
  return comm;
}

GlooCommunicator::GlooCommunicator(int rank, int size, std::chrono::milliseconds timeout,
                                   std::shared_ptr<gloo::Context> context)
    : rank_(rank), size_(size), timeout_(timeout), context_(std::move(context)) {}

GlooCommunicator::~GlooCommunicator() = default;

template <typename Fn>
absl::Status GlooCommunicator::Run(const char* what, Fn&& fn) {
  if (!broken_.ok()) return broken_;
  try {
    fn();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    absl::Status status = FromGloo(rank_, what, e);
    broken_ = absl::UnavailableError(
        absl::StrCat("tp group broken by an earlier failure: ", status.message()));
    return status;
  }
}

absl::Status GlooCommunicator::AllReduceSum(absl::Span<float> data) {
  if (size_ == 1 || data.empty()) return broken_;
  if (data.size() * sizeof(float) <= kGatherReduceMaxBytes) {
    // NOTE: small (decode-sized) sums gather every rank's values and add them
    // in rank order: fewer sequential hops than a ring's reduce-scatter plus
    // all-gather, and the same order, hence the same bits, on every rank.
    gathered_.resize(data.size() * size_);
    RETURN_IF_ERROR(AllGather(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size() * sizeof(float)),
        absl::MakeSpan(reinterpret_cast<uint8_t*>(gathered_.data()), gathered_.size() * 4)));
    for (size_t i = 0; i < data.size(); ++i) {
      float sum = gathered_[i];
      for (int r = 1; r < size_; ++r) sum += gathered_[r * data.size() + i];
      data[i] = sum;
    }
    return absl::OkStatus();
  }
  return Run("all-reduce", [&] {
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(data.data(), data.size());
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTimeout(timeout_);
    gloo::allreduce(opts);
  });
}

absl::Status GlooCommunicator::AllGather(absl::Span<const uint8_t> in, absl::Span<uint8_t> out) {
  if (out.size() != in.size() * static_cast<size_t>(size_)) {
    return absl::InvalidArgumentError(absl::StrCat("all-gather: output of ", out.size(),
                                                   " bytes for ", size_, " x ", in.size()));
  }
  if (size_ == 1) {
    std::copy(in.begin(), in.end(), out.begin());
    return broken_;
  }
  return Run("all-gather", [&] {
    gloo::AllgatherOptions opts(context_);
    opts.setInput(const_cast<uint8_t*>(in.data()), in.size());
    opts.setOutput(out.data(), out.size());
    opts.setTimeout(timeout_);
    gloo::allgather(opts);
  });
}

absl::Status GlooCommunicator::Broadcast(absl::Span<uint8_t> data, int root) {
  if (root < 0 || root >= size_) {
    return absl::InvalidArgumentError(absl::StrCat("broadcast: root ", root, " outside the group"));
  }
  if (size_ == 1 || data.empty()) return broken_;
  return Run("broadcast", [&] {
    gloo::BroadcastOptions opts(context_);
    opts.setOutput(data.data(), data.size());
    opts.setRoot(root);
    opts.setTimeout(timeout_);
    gloo::broadcast(opts);
  });
}

absl::Status GlooCommunicator::Barrier() {
  if (size_ == 1) return broken_;
  return Run("barrier", [&] {
    gloo::BarrierOptions opts(context_);
    opts.setTimeout(timeout_);
    gloo::barrier(opts);
  });
}

}  // namespace gqa
