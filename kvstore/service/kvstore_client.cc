#include "kvstore/service/kvstore_client.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/crc32c.h"
#include "proto/convert/kv_convert.h"
#include "core/grpc/keepalive.h"
#include "core/grpc/status_convert.h"
#include "core/status.h"
#include "gqa/v1/kvstore.grpc.pb.h"
#include "kvstore/service/block_convert.h"

namespace gqa::kvstore {
namespace {

// The client checks what it receives against the protocol's own bounds, not
// a particular store's (which it does not know).
KvStoreLimits ReceiveLimits() {
  KvStoreLimits limits;
  limits.max_block_bytes = int64_t{1} << 30;
  limits.max_block_tokens = std::numeric_limits<int32_t>::max();
  limits.max_kv_heads = std::numeric_limits<int32_t>::max();
  return limits;
}

// Receives one Get stream's blocks, checking each against its key.
class GetAssembler {
 public:
  GetAssembler(absl::Span<const BlockKey> keys, std::vector<Block>* blocks)
      : keys_(keys), blocks_(blocks) {}

  // Applies one message; a protocol violation or damaged block otherwise.
  absl::Status Add(v1::GetResponse& response) {
    const size_t index = blocks_->size();
    if (response.has_header()) {
      if (current_.has_value()) {
        return absl::InternalError(absl::StrCat("the store started block ", index + 1,
                                                " before block ", index,
                                                "'s payload was complete"));
      }
      if (index >= keys_.size()) {
        return absl::InternalError("the store sent more blocks than keys were asked for");
      }
      ASSIGN_OR_RETURN(Block block, BlockFromHeaderProto(response.header(), ReceiveLimits()));
      if (!(block.key == keys_[index])) {
        return absl::InternalError(
            absl::StrCat("the store sent another key for keys[", index, "]"));
      }
      expected_bytes_ = LayoutPayloadBytes(block.layout, block.key.shard, block.key.dtype);
      current_ = std::move(block);
    } else if (!current_.has_value()) {
      return absl::InternalError("the store sent a chunk before a header");
    }
    std::string& payload = current_->payload;
    std::string* chunk = response.mutable_chunk();
    if (static_cast<int64_t>(payload.size() + chunk->size()) > expected_bytes_) {
      return absl::InternalError(
          absl::StrCat("keys[", index, "]: the store sent more payload than its layout implies"));
    }
    if (payload.empty()) {
      payload.swap(*chunk);
      if (static_cast<int64_t>(payload.size()) < expected_bytes_) payload.reserve(expected_bytes_);
    } else {
      payload.append(*chunk);
    }
    if (static_cast<int64_t>(payload.size()) < expected_bytes_) return absl::OkStatus();
    if (crc32c::Value(payload) != current_->payload_crc32c) {
      return absl::DataLossError(
          absl::StrCat("keys[", index, "]: the block arrived damaged (crc32c mismatch)"));
    }
    blocks_->push_back(*std::move(current_));
    current_.reset();
    return absl::OkStatus();
  }

  bool mid_block() const { return current_.has_value(); }

 private:
  absl::Span<const BlockKey> keys_;
  std::vector<Block>* blocks_;
  std::optional<Block> current_;
  int64_t expected_bytes_ = 0;
};

}  // namespace

struct KvStoreClient::Stub {
  std::unique_ptr<v1::KvStore::Stub> stub;
};

std::shared_ptr<grpc::Channel> NewKvStoreChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  return grpc::CreateCustomChannel(target, credentials, ClientKeepaliveArguments());
}

KvStoreClient::KvStoreClient(std::shared_ptr<grpc::Channel> channel, KvStoreClientOptions options)
    : options_(std::move(options)),
      stub_(new Stub{v1::KvStore::NewStub(std::move(channel))}) {}

KvStoreClient::~KvStoreClient() = default;

void KvStoreClient::PrepareContext(grpc::ClientContext* context) const {
  if (!options_.bearer_token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
  if (options_.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
}

absl::Status KvStoreClient::PutBlocks(absl::Span<const Block> blocks, int64_t swap_ttl_ms,
                                      std::vector<PutOutcome>* outcomes) {
  outcomes->clear();
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& block = blocks[i];
    const int64_t want = LayoutPayloadBytes(block.layout, block.key.shard, block.key.dtype);
    if (static_cast<int64_t>(block.payload.size()) != want) {
      return absl::InvalidArgumentError(absl::StrCat("blocks[", i, "]: the payload is ",
                                                     block.payload.size(),
                                                     " bytes; its layout implies ", want));
    }
  }
  if (blocks.empty()) return absl::OkStatus();
  grpc::ClientContext context;
  PrepareContext(&context);
  auto stream = stub_->stub->Put(&context);
  absl::Status received;  // a bad answer, if any
  auto read_answer = [&] {
    v1::PutResponse response;
    if (!stream->Read(&response)) return false;
    absl::StatusOr<PutOutcome> outcome = PutOutcomeFromProto(response.outcome());
    if (!outcome.ok()) {
      received = outcome.status();
      return false;
    }
    outcomes->push_back(*outcome);
    return true;
  };
  const size_t window = static_cast<size_t>(std::max(1, options_.max_unanswered_blocks));
  bool writable = true, readable = true, writes_done = false;
  v1::PutRequest request;
  for (size_t i = 0; i < blocks.size() && writable && readable; ++i) {
    const Block& block = blocks[i];
    request.Clear();
    BlockHeaderToProto(block, request.mutable_header());
    request.mutable_header()->set_payload_crc32c(crc32c::Value(block.payload));
    request.set_swap_ttl_ms(block.key.kind == BlockKind::kSwap ? swap_ttl_ms : 0);
    const int64_t size = static_cast<int64_t>(block.payload.size());
    for (int64_t offset = 0; offset < size && writable;) {
      const int64_t n = std::min(kMaxChunkBytes, size - offset);
      request.set_chunk(block.payload.data() + offset, n);
      offset += n;
      if (offset == size && i + 1 == blocks.size()) {
        // The last message half-closes the stream with it: one operation.
        writable = stream->Write(request, grpc::WriteOptions().set_last_message());
        writes_done = true;
      } else {
        writable = stream->Write(request);
      }
      request.Clear();
    }
    while (writable && readable && i + 1 - outcomes->size() >= window) readable = read_answer();
  }
  if (writable && readable && !writes_done) stream->WritesDone();
  while (readable) readable = read_answer();
  if (!received.ok()) context.TryCancel();
  const grpc::Status status = stream->Finish();
  if (!received.ok()) return received;
  if (!status.ok()) return FromGrpcStatus(status);
  if (outcomes->size() != blocks.size()) {
    return absl::InternalError(absl::StrCat("the store answered ", outcomes->size(), " of ",
                                            blocks.size(), " blocks and ended OK"));
  }
  return absl::OkStatus();
}

absl::Status KvStoreClient::GetBlocks(absl::Span<const BlockKey> keys, std::vector<Block>* blocks) {
  blocks->clear();
  v1::GetRequest request;
  for (const BlockKey& key : keys) BlockKeyToProto(key, request.add_keys());
  grpc::ClientContext context;
  PrepareContext(&context);
  auto reader = stub_->stub->Get(&context, request);
  GetAssembler assembler(keys, blocks);
  absl::Status received;
  v1::GetResponse response;
  while (received.ok() && reader->Read(&response)) received = assembler.Add(response);
  if (!received.ok()) context.TryCancel();
  const grpc::Status status = reader->Finish();
  if (!received.ok()) return received;
  if (!status.ok()) return FromGrpcStatus(status);
  if (assembler.mid_block() || blocks->size() != keys.size()) {
    return absl::InternalError(absl::StrCat("the store sent ", blocks->size(), " of ", keys.size(),
                                            " blocks and ended OK"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KvStoreClient::Lookup(const std::string& tenant, const KvShard& shard,
                                              DType dtype,
                                              absl::Span<const std::string> logical_ids) {
  v1::LookupRequest request;
  request.set_tenant(tenant);
  request.mutable_shard()->set_first_kv_head(shard.first_kv_head);
  request.mutable_shard()->set_num_kv_heads(shard.num_kv_heads);
  request.set_dtype(DTypeToProto(dtype));
  for (const std::string& id : logical_ids) request.add_logical_ids(id);
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::LookupResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Lookup(&context, request, &response)));
  return response.num_present_blocks();
}

absl::StatusOr<int64_t> KvStoreClient::Delete(absl::Span<const BlockKey> keys) {
  v1::DeleteRequest request;
  for (const BlockKey& key : keys) BlockKeyToProto(key, request.mutable_keys()->add_keys());
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::DeleteResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Delete(&context, request, &response)));
  return response.num_deleted_blocks();
}

absl::StatusOr<int64_t> KvStoreClient::DeleteSwapSequence(const std::string& tenant,
                                                          const std::string& seq_id) {
  v1::DeleteRequest request;
  request.mutable_swap_sequence()->set_tenant(tenant);
  request.mutable_swap_sequence()->set_seq_id(seq_id);
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::DeleteResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Delete(&context, request, &response)));
  return response.num_deleted_blocks();
}

absl::StatusOr<StoreStats> KvStoreClient::Stats() {
  grpc::ClientContext context;
  PrepareContext(&context);
  v1::StatsResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Stats(&context, v1::StatsRequest(), &response)));
  return StatsFromProto(response);
}

}  // namespace gqa::kvstore
