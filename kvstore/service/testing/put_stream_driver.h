// Test helper: sends hand-made PutRequest messages on one Put stream (so tests
// can break the protocol on purpose) and collects the answers and status;
// plus the messages a well-formed block becomes. Thread-compatible.
#ifndef GQA_KVSTORE_SERVICE_TESTING_PUT_STREAM_DRIVER_H_
#define GQA_KVSTORE_SERVICE_TESTING_PUT_STREAM_DRIVER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/strings/string_view.h"
#include "gqa/v1/kvstore.grpc.pb.h"
#include "kvstore/store/block.h"

namespace gqa::kvstore {

struct RawPutResult {
  std::vector<v1::PutOutcome> outcomes;  // the answers, in order
  grpc::Status status;
};

// Writes `messages` (stopping when a write fails), half-closes, reads every
// answer and returns them with the final status. `token`, when not empty, is
// sent as "authorization: Bearer <token>".
RawPutResult RawPut(v1::KvStore::Stub& stub, const std::vector<v1::PutRequest>& messages,
                    absl::string_view token = "");

// The messages of one block: a header (with swap_ttl_ms) and the payload in
// chunks of `chunk_bytes`, the first chunk in the header's message.
std::vector<v1::PutRequest> BlockMessages(const Block& block, int64_t swap_ttl_ms,
                                          int64_t chunk_bytes = int64_t{1} << 20);

// All messages of `blocks`, one after the other.
std::vector<v1::PutRequest> BlocksMessages(const std::vector<Block>& blocks, int64_t swap_ttl_ms);

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_TESTING_PUT_STREAM_DRIVER_H_
