// GetStream: the server side of one KvStore.Get stream (a callback write
// reactor). It reads the keys in order on the StoreExecutor (inline, on the
// gRPC thread, for a memory-only store), re-checks each block's CRC-32C
// unless the store verified the very bytes it returned, and sends each as a
// header message (carrying the first chunk) followed by chunks of at most
// 1 MiB; at the first absent key it ends
// NOT_FOUND naming the key's index, after the blocks before it. Flow control:
// one write in flight, and the next block is read only when the previous one
// starts sending, so a slow reader makes the stream hold at most two blocks.
// Internal to KvStoreService; deletes itself in OnDone.
#ifndef GQA_KVSTORE_SERVICE_GET_STREAM_H_
#define GQA_KVSTORE_SERVICE_GET_STREAM_H_

#include <cstdint>
#include <optional>
#include <vector>

#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gqa/v1/kvstore.pb.h"
#include "kvstore/service/service_context.h"

namespace gqa::kvstore {

class GetStream final : public grpc::ServerWriteReactor<v1::GetResponse> {
 public:
  explicit GetStream(const ServiceContext& context);

  // Validates the request and starts reading blocks, or ends the call at
  // once when `admission` (the caller's authentication) or the request is
  // not OK.
  void Start(const absl::Status& admission, const v1::GetRequest& request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Reads keys_[index] from the store and checks it (VerifyFetched).
  absl::StatusOr<Block> Fetch(size_t index) const;
  // Reads the next key: inline for a memory-only store, else on the executor.
  void StartFetchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordFetchLocked(size_t index, absl::StatusOr<Block> block)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills response_ with the next message of sending_.
  void NextMessageLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next write and fetch. Once nothing is left in flight, marks
  // the call finished and returns its status, which the caller passes to
  // FinishCall() after releasing mu_.
  std::optional<absl::Status> PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishCall(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  const ServiceContext context_;
  const absl::Time start_;
  std::vector<BlockKey> keys_;  // set by Start, then read-only
  absl::Mutex mu_;
  v1::GetResponse response_;  // owned by the write in flight
  size_t next_fetch_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Block> ready_ ABSL_GUARDED_BY(mu_);    // read and verified, not yet sending
  std::optional<Block> sending_ ABSL_GUARDED_BY(mu_);  // its payload may be moved out
  int64_t sending_bytes_ ABSL_GUARDED_BY(mu_) = 0;      // sending_'s payload size
  int64_t sent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool header_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool fetch_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // response_ holds the last message, to be sent with the final status.
  bool finish_with_write_ ABSL_GUARDED_BY(mu_) = false;
  // Set when a read fails: the call ends with it after the blocks before.
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_GET_STREAM_H_
