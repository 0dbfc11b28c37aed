// PutStream: the server side of one KvStore.Put stream (a callback bidi
// reactor). It parses headers and chunks as they arrive, checks each block's
// CRC-32C, commits blocks one at a time on the StoreExecutor (inline, on the
// gRPC thread, for a memory-only store) and answers one PutResponse per
// committed block, in order. Flow control: it reads no further
// while a completed block waits for the commit in flight, or while 64 answers
// wait to be written, so one stream holds at most two blocks and never buffers
// without bound. Internal to KvStoreService; deletes itself in OnDone.
//
//   read -> [current: assembling] -> [ready: verified] -> commit (executor)
//        -> answers (unsent) -> write, one in flight
#ifndef GQA_KVSTORE_SERVICE_PUT_STREAM_H_
#define GQA_KVSTORE_SERVICE_PUT_STREAM_H_

#include <cstdint>
#include <deque>
#include <optional>

#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gqa/v1/kvstore.pb.h"
#include "kvstore/service/service_context.h"

namespace gqa::kvstore {

class PutStream final : public grpc::ServerBidiReactor<v1::PutRequest, v1::PutResponse> {
 public:
  // Answers written at most this far behind the commits before reading stops.
  static constexpr size_t kMaxUnsentAnswers = 64;

  explicit PutStream(const ServiceContext& context);

  // Starts reading, or ends the call at once when `admission` (the caller's
  // authentication) is not OK.
  void Start(const absl::Status& admission);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // A block being received.
  struct Assembly {
    PutHeader put;
    int64_t index = 0;  // its position in the stream
    uint32_t crc = 0;   // CRC-32C of the payload received so far
  };

  // Applies request_ (a header and/or a chunk) to the stream state.
  absl::Status HandleMessageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AppendChunkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits ready_: inline for a memory-only store, else on the executor.
  void StartCommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordCommitLocked(int64_t index, int64_t payload_bytes, absl::StatusOr<PutOutcome> outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts whatever can start (write, commit, read). Once nothing is left
  // in flight, marks the call finished and returns the status to end it
  // with, which the caller passes to FinishCall() after releasing mu_.
  std::optional<absl::Status> PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishCall(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceContext context_;
  const absl::Time start_;
  absl::Mutex mu_;
  v1::PutRequest request_;    // owned by the read in flight
  v1::PutResponse response_;  // owned by the write in flight
  std::optional<Assembly> current_ ABSL_GUARDED_BY(mu_);
  std::optional<Assembly> ready_ ABSL_GUARDED_BY(mu_);  // complete and verified
  std::deque<PutOutcome> unsent_ ABSL_GUARDED_BY(mu_);
  int64_t num_headers_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool commit_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // A protocol or checksum error: reading stops, the blocks already verified
  // are committed and answered, then the call ends with it.
  absl::Status read_error_ ABSL_GUARDED_BY(mu_);
  // A failed commit: the call ends with it once earlier answers are written.
  absl::Status store_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_PUT_STREAM_H_
