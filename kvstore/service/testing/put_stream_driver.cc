#include "kvstore/service/testing/put_stream_driver.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kvstore/service/block_convert.h"

namespace gqa::kvstore {

RawPutResult RawPut(v1::KvStore::Stub& stub, const std::vector<v1::PutRequest>& messages,
                    absl::string_view token) {
  RawPutResult result;
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub.Put(&context);
  for (const v1::PutRequest& message : messages) {
    if (!stream->Write(message)) break;
  }
  stream->WritesDone();
  v1::PutResponse response;
  while (stream->Read(&response)) result.outcomes.push_back(response.outcome());
  result.status = stream->Finish();
  return result;
}

std::vector<v1::PutRequest> BlockMessages(const Block& block, int64_t swap_ttl_ms,
                                          int64_t chunk_bytes) {
  std::vector<v1::PutRequest> messages(1);
  BlockHeaderToProto(block, messages[0].mutable_header());
  messages[0].set_swap_ttl_ms(swap_ttl_ms);
  const int64_t size = static_cast<int64_t>(block.payload.size());
  for (int64_t offset = 0; offset < size; offset += chunk_bytes) {
    if (offset > 0) messages.emplace_back();
    messages.back().set_chunk(block.payload.substr(offset, std::min(chunk_bytes, size - offset)));
  }
  return messages;
}

std::vector<v1::PutRequest> BlocksMessages(const std::vector<Block>& blocks,
                                           int64_t swap_ttl_ms) {
  std::vector<v1::PutRequest> messages;
  for (const Block& block : blocks) {
    const int64_t ttl = block.key.kind == BlockKind::kSwap ? swap_ttl_ms : 0;
    for (v1::PutRequest& message : BlockMessages(block, ttl)) {
      messages.push_back(std::move(message));
    }
  }
  return messages;
}

}  // namespace gqa::kvstore
