// RequestSender: how the driver starts one request without waiting for it.
// The gRPC implementation streams from a router or worker (grpc_sender.h);
// tests use fakes. Also the client's monotonic clock every time is read from.
// Implementations must be thread-safe: Send is called from the driver's
// thread while earlier requests complete on others.
#ifndef GQA_TOOLS_GQA_LOADGEN_REQUEST_SENDER_H_
#define GQA_TOOLS_GQA_LOADGEN_REQUEST_SENDER_H_

#include <cstdint>
#include <functional>

#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/workload.h"

namespace gqa::loadgen {

// CLOCK_MONOTONIC (std::chrono::steady_clock), in nanoseconds.
int64_t MonotonicNowNs();

class RequestSender {
 public:
  virtual ~RequestSender() = default;

  // Starts `spec` and returns at once. Calls `done` exactly once, from any
  // thread, with the response side of the record filled: chunks (arrival
  // times in MonotonicNowNs), status, finish reason, usage, output tokens,
  // and end_ns (MonotonicNowNs at completion). The driver fills the rest.
  virtual void Send(const RequestSpec& spec, std::function<void(RequestRecord)> done) = 0;
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_REQUEST_SENDER_H_
