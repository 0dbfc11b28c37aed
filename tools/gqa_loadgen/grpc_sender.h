// GrpcSender: gqa-loadgen's RequestSender over real gRPC. Streams
// gqa.v1.Inference.Generate from a router (text or token-id prompts, the API
// key as a Bearer token) or gqa.v1.Worker.Submit from one worker (token ids,
// a tenant, a unique request_id), with the callback API, so a send never
// blocks the driver's thread. Plaintext or TLS (mTLS optional), one or more
// HTTP/2 connections. No gRPC type appears in this header. Thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_GRPC_SENDER_H_
#define GQA_TOOLS_GQA_LOADGEN_GRPC_SENDER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/gqa_loadgen/request_sender.h"
#include "tools/gqa_loadgen/target_options.h"

namespace gqa::loadgen {

// What the target serves, read before the run.
struct TargetInfo {
  std::string model_name;
  int64_t vocab_size = 0;
  int64_t context_tokens = 0;
};

class GrpcSender final : public RequestSender {
 public:
  // Opens the connections and waits up to `timeout` for each to be ready.
  // INVALID_ARGUMENT for unreadable TLS files; UNAVAILABLE naming the address
  // when it cannot be reached.
  static absl::StatusOr<std::unique_ptr<GrpcSender>> Connect(const TargetOptions& target,
                                                             absl::Duration timeout);
  ~GrpcSender() override;

  // ListModels (router) or Info (worker). The server's status, annotated.
  absl::StatusOr<TargetInfo> FetchInfo(absl::Duration timeout);

  // The settings the next sends use.
  void SetSettings(const RequestSettings& settings) ABSL_LOCKS_EXCLUDED(mu_);

  void Send(const RequestSpec& spec, std::function<void(RequestRecord)> done) override;

 private:
  struct Impl;
  explicit GrpcSender(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  mutable absl::Mutex mu_;
  RequestSettings settings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_GRPC_SENDER_H_
