// KvStoreClient: the workers' (and the benchmark's) side of gqa.v1.KvStore
// over a gRPC channel, in the store's own types (kvstore/store/block.h).
// It computes each block's CRC-32C, chunks payloads (at most 1 MiB per
// message), pipelines Put with a bounded number of unanswered blocks, and
// checks every block Get returns (key, size, checksum). Thread-safe: calls
// from many threads share the channel.
//
//   KvStoreClient client(NewKvStoreChannel("host:port", grpc::InsecureChannelCredentials()));
//   std::vector<PutOutcome> outcomes;
//   RETURN_IF_ERROR(client.PutBlocks(blocks, /*swap_ttl_ms=*/60000, &outcomes));
#ifndef GQA_KVSTORE_SERVICE_KVSTORE_CLIENT_H_
#define GQA_KVSTORE_SERVICE_KVSTORE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kvstore/store/block_store.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace gqa::kvstore {

struct KvStoreClientOptions {
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string bearer_token;
  // Deadline of each call, from its start. Default 60 s.
  absl::Duration timeout = absl::Seconds(60);
  // Put blocks sent before the client waits for the oldest one's answer,
  // >= 1. Default 8.
  int max_unanswered_blocks = 8;
};

// A channel to `target` with gqaserve's keepalive settings.
std::shared_ptr<grpc::Channel> NewKvStoreChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials);

class KvStoreClient {
 public:
  explicit KvStoreClient(std::shared_ptr<grpc::Channel> channel,
                         KvStoreClientOptions options = KvStoreClientOptions());
  ~KvStoreClient();
  KvStoreClient(const KvStoreClient&) = delete;
  KvStoreClient& operator=(const KvStoreClient&) = delete;

  // Stores `blocks` in one Put stream; each block's payload_crc32c is
  // computed here (the field of `blocks` is ignored). swap_ttl_ms applies to
  // swap blocks and must be in [1, the store's max]; prefix blocks are sent
  // with 0. *outcomes gets one entry per block the store committed, in
  // order: all of them on OK, the ones before the failing block otherwise
  // (those stay stored). INVALID_ARGUMENT, before anything is sent, for a
  // payload whose size does not match its layout.
  absl::Status PutBlocks(absl::Span<const Block> blocks, int64_t swap_ttl_ms,
                         std::vector<PutOutcome>* outcomes);

  // Reads `keys` in order into *blocks (replaced). OK when every key was
  // read; NOT_FOUND naming the first absent key's index, with *blocks
  // holding the complete, verified blocks before it; DATA_LOSS when a block
  // arrives damaged.
  absl::Status GetBlocks(absl::Span<const BlockKey> keys, std::vector<Block>* blocks);

  // How many leading ids of a prefix chain are stored.
  absl::StatusOr<int64_t> Lookup(const std::string& tenant, const KvShard& shard, DType dtype,
                                 absl::Span<const std::string> logical_ids);
  // Deletes these blocks; returns how many existed.
  absl::StatusOr<int64_t> Delete(absl::Span<const BlockKey> keys);
  // Deletes every swap block of a sequence; returns how many existed.
  absl::StatusOr<int64_t> DeleteSwapSequence(const std::string& tenant, const std::string& seq_id);
  absl::StatusOr<StoreStats> Stats();

 private:
  struct Stub;
  void PrepareContext(grpc::ClientContext* context) const;

  const KvStoreClientOptions options_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_KVSTORE_CLIENT_H_
