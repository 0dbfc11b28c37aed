// KvStoreService through the API, on a real loopback socket: round trips,
// every INVALID_ARGUMENT case of kvstore.proto, the Put protocol errors,
// DATA_LOSS on a bad checksum, NOT_FOUND at the first absent key after the
// blocks before it, tenant isolation, Lookup, Delete, Stats and metrics.
#include "kvstore/service/kvstore_service.h"

#include <functional>
#include <memory>

#include <grpcpp/client_context.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvstore/service/kvstore_client.h"
#include "kvstore/service/testing/kvstore_test_server.h"
#include "kvstore/service/testing/put_stream_driver.h"
#include "kvstore/service/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kTtlMs = 60000;

class KvStoreServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(KvStoreTestServerOptions()); }

  void StartServer(KvStoreTestServerOptions options) {
    absl::StatusOr<std::unique_ptr<KvStoreTestServer>> server =
        KvStoreTestServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->NewStub();
    client_ = std::make_unique<KvStoreClient>(server_->Channel());
  }

  static BlockLayout Layout() { return BlockLayout{2, 16, 8}; }  // f16, one head: 1024 bytes
  static Block Prefix(uint64_t seed, const std::string& tenant = "acme") {
    return TestBlock(TestPrefixKey(tenant, seed), Layout(), seed);
  }
  static Block Swap(const std::string& seq_id, int64_t idx, const std::string& tenant = "acme") {
    return TestBlock(TestSwapKey(tenant, seq_id, idx), Layout(), 1000 + idx);
  }
  int64_t NumBlocks() {
    const StoreStats stats = server_->store().Stats();
    return stats.tiers[0].num_prefix_blocks + stats.tiers[0].num_swap_blocks;
  }

  std::unique_ptr<KvStoreTestServer> server_;
  std::unique_ptr<v1::KvStore::Stub> stub_;
  std::unique_ptr<KvStoreClient> client_;
};

TEST_F(KvStoreServiceTest, PutThenGetReturnsTheSameBlocks) {
  const std::vector<Block> blocks = {Prefix(1), Prefix(2), Swap("w/1", 0), Swap("w/1", 1)};
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, kTtlMs, &outcomes).ok());
  EXPECT_THAT(outcomes, ElementsAre(PutOutcome::kStored, PutOutcome::kStored,
                                    PutOutcome::kStored, PutOutcome::kStored));
  std::vector<BlockKey> keys;
  for (const Block& block : blocks) keys.push_back(block.key);
  std::vector<Block> got;
  ASSERT_TRUE(client_->GetBlocks(keys, &got).ok());
  ASSERT_EQ(got.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(got[i].key, blocks[i].key);
    EXPECT_EQ(got[i].layout, blocks[i].layout);
    EXPECT_EQ(got[i].payload, blocks[i].payload);
    EXPECT_EQ(got[i].payload_crc32c, blocks[i].payload_crc32c);
  }
}

TEST_F(KvStoreServiceTest, ARepeatedPrefixBlockIsAlreadyPresentAndASwapBlockIsReplaced) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Swap("w/1", 0)}, kTtlMs, &outcomes).ok());
  Block newer = Swap("w/1", 0);
  newer.payload[5] ^= 1;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), newer}, kTtlMs, &outcomes).ok());
  EXPECT_THAT(outcomes, ElementsAre(PutOutcome::kAlreadyPresent, PutOutcome::kStored));
  std::vector<Block> got;
  ASSERT_TRUE(client_->GetBlocks({newer.key}, &got).ok());
  EXPECT_EQ(got[0].payload, newer.payload);
}

struct BadPut {
  std::string name;
  std::function<void(v1::PutRequest&)> mutate;  // applied to the header message
  std::string message;
};

class BadPutTest : public KvStoreServiceTest, public ::testing::WithParamInterface<BadPut> {};

// Each rule, through the API: the stream ends INVALID_ARGUMENT naming the
// field, the valid block before it is answered and stays, the bad one is
// not stored.
TEST_P(BadPutTest, IsInvalidArgumentAndStoresNothingOfTheBadBlock) {
  std::vector<v1::PutRequest> messages = BlockMessages(Swap("w/1", 0), kTtlMs);
  std::vector<v1::PutRequest> bad = BlockMessages(Swap("w/1", 1), kTtlMs);
  GetParam().mutate(bad[0]);
  messages.insert(messages.end(), bad.begin(), bad.end());
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << result.status.error_message();
  EXPECT_THAT(result.status.error_message(), HasSubstr("block 1"));
  EXPECT_THAT(result.status.error_message(), HasSubstr(GetParam().message));
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
  EXPECT_EQ(NumBlocks(), 1);
}

v1::BlockKey* Key(v1::PutRequest& r) { return r.mutable_header()->mutable_key(); }
v1::BlockLayout* Layout(v1::PutRequest& r) { return r.mutable_header()->mutable_layout(); }

INSTANTIATE_TEST_SUITE_P(
    EveryRule, BadPutTest,
    ::testing::Values(
        BadPut{"EmptyTenant", [](auto& r) { Key(r)->set_tenant(""); },
               "tenant is 0 bytes; it must be 1..128"},
        BadPut{"LongTenant", [](auto& r) { Key(r)->set_tenant(std::string(129, 't')); },
               "tenant is 129 bytes"},
        BadPut{"NoId", [](auto& r) { Key(r)->clear_id(); },
               "set logical_id (a prefix block) or swap"},
        BadPut{"ShortLogicalId",
               [](auto& r) { Key(r)->set_logical_id("abc"); r.set_swap_ttl_ms(0); },
               "logical_id is 3 bytes; it must be exactly 32"},
        BadPut{"EmptySeqId", [](auto& r) { Key(r)->mutable_swap()->set_seq_id(""); },
               "seq_id is 0 bytes; it must be 1..256"},
        BadPut{"LongSeqId",
               [](auto& r) { Key(r)->mutable_swap()->set_seq_id(std::string(257, 's')); },
               "seq_id is 257 bytes"},
        BadPut{"NegativeBlockIdx", [](auto& r) { Key(r)->mutable_swap()->set_block_idx(-3); },
               "block_idx = -3 must be >= 0"},
        BadPut{"NegativeFirstHead", [](auto& r) { Key(r)->mutable_shard()->set_first_kv_head(-1); },
               "first_kv_head >= 0"},
        BadPut{"ZeroHeads", [](auto& r) { Key(r)->mutable_shard()->set_num_kv_heads(0); },
               "num_kv_heads >= 1"},
        BadPut{"ShardPastMaxHeads",
               [](auto& r) { Key(r)->mutable_shard()->set_first_kv_head(1024); },
               "first_kv_head + num_kv_heads <= 1024"},
        BadPut{"DtypeUnspecified", [](auto& r) { Key(r)->set_dtype(v1::KV_DTYPE_UNSPECIFIED); },
               "KV_DTYPE_UNSPECIFIED"},
        BadPut{"ZeroLayers", [](auto& r) { Layout(r)->set_num_layers(0); },
               "num_layers = 0 must be >= 1"},
        BadPut{"ZeroTokens", [](auto& r) { Layout(r)->set_block_tokens(0); },
               "block_tokens = 0 must be in [1, 1024]"},
        BadPut{"TooManyTokens", [](auto& r) { Layout(r)->set_block_tokens(4096); },
               "block_tokens = 4096"},
        BadPut{"ZeroHeadDim", [](auto& r) { Layout(r)->set_head_dim(0); },
               "head_dim = 0 must be >= 1"},
        BadPut{"ScaleMismatch", [](auto& r) { Layout(r)->set_scale_dtype(v1::SCALE_DTYPE_F32); },
               "must be SCALE_DTYPE_NONE"},
        BadPut{"Fp8WithoutScales", [](auto& r) { Key(r)->set_dtype(v1::KV_DTYPE_FP8_E4M3); },
               "must be SCALE_DTYPE_F32"},
        BadPut{"Oversize", [](auto& r) { Layout(r)->set_num_layers(1 << 20); },
               "exceeds the store's maximum block size of 67108864 bytes"},
        BadPut{"SwapWithoutTtl", [](auto& r) { r.set_swap_ttl_ms(0); },
               "swap_ttl_ms = 0 must be in [1, 600000]"},
        BadPut{"SwapTtlTooLong", [](auto& r) { r.set_swap_ttl_ms(600001); },
               "swap_ttl_ms = 600001"},
        BadPut{"TtlOnPrefix", [](auto& r) { Key(r)->set_logical_id(TestLogicalId(9)); },
               "must be 0 for a prefix block"}),
    [](const ::testing::TestParamInfo<BadPut>& info) { return info.param.name; });

TEST_F(KvStoreServiceTest, AChunkBeforeAnyHeaderIsInvalid) {
  v1::PutRequest chunk;
  chunk.set_chunk("abc");
  const RawPutResult result = RawPut(*stub_, {chunk});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("before any header"));
}

TEST_F(KvStoreServiceTest, AChunkAfterACompleteBlockIsInvalid) {
  std::vector<v1::PutRequest> messages = BlockMessages(Prefix(1), 0);
  messages.emplace_back().set_chunk("x");
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("after block 0 was complete"));
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
}

TEST_F(KvStoreServiceTest, AChunkPastThePayloadSizeIsInvalid) {
  const Block block = Prefix(1);
  std::vector<v1::PutRequest> messages = BlockMessages(block, 0, 1000);  // 1000 + 24 bytes
  messages[1].mutable_chunk()->append("extra");
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(),
              HasSubstr("a chunk of 29 bytes after 1000 goes past the payload's size of 1024"));
  EXPECT_EQ(NumBlocks(), 0);
}

TEST_F(KvStoreServiceTest, AHeaderBeforeThePreviousPayloadIsCompleteIsInvalid) {
  std::vector<v1::PutRequest> messages = BlockMessages(Prefix(1), 0, 1000);
  messages.pop_back();  // 24 bytes missing
  for (v1::PutRequest& m : BlockMessages(Prefix(2), 0)) messages.push_back(m);
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(),
              HasSubstr("block 0: a header arrived after 1000 of its 1024 payload bytes"));
  EXPECT_EQ(NumBlocks(), 0);
}

TEST_F(KvStoreServiceTest, AStreamEndingMidBlockIsInvalidAndKeepsTheBlocksBefore) {
  std::vector<v1::PutRequest> messages = BlockMessages(Prefix(1), 0);
  for (v1::PutRequest& m : BlockMessages(Prefix(2), 0, 1000)) messages.push_back(m);
  messages.pop_back();
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(),
              HasSubstr("the stream ended mid-block: block 1 has 1000 of its 1024"));
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
  EXPECT_EQ(NumBlocks(), 1);
  std::vector<Block> got;
  EXPECT_TRUE(client_->GetBlocks({Prefix(1).key}, &got).ok());
}

TEST_F(KvStoreServiceTest, AChunkOverOneMebibyteIsInvalid) {
  const Block block =
      TestBlock(TestPrefixKey("acme", 1), TestLayoutOfBytes(2 << 20, DType::kF16), 1);
  const RawPutResult result = RawPut(*stub_, BlockMessages(block, 0, (1 << 20) + 2));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(result.status.error_message(), HasSubstr("exceeds the limit of 1048576 bytes"));
}

TEST_F(KvStoreServiceTest, ABadChecksumIsDataLossAndThatBlockIsNotStored) {
  std::vector<v1::PutRequest> messages = BlockMessages(Prefix(1), 0);
  std::vector<v1::PutRequest> bad = BlockMessages(Prefix(2), 0);
  bad[0].mutable_header()->set_payload_crc32c(bad[0].header().payload_crc32c() ^ 1);
  messages.insert(messages.end(), bad.begin(), bad.end());
  for (v1::PutRequest& m : BlockMessages(Prefix(3), 0)) messages.push_back(m);
  const RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(result.status.error_message(), HasSubstr("block 1: the payload's crc32c is 0x"));
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
  std::vector<Block> got;
  EXPECT_TRUE(client_->GetBlocks({Prefix(1).key}, &got).ok());
  EXPECT_EQ(client_->GetBlocks({Prefix(2).key}, &got).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->GetBlocks({Prefix(3).key}, &got).code(), absl::StatusCode::kNotFound);
}

TEST_F(KvStoreServiceTest, GetStopsAtTheFirstAbsentKeyAfterTheBlocksBefore) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(0), Prefix(1), Prefix(3)}, 0, &outcomes).ok());
  std::vector<Block> got;
  const absl::Status status = client_->GetBlocks(
      {Prefix(0).key, Prefix(1).key, Prefix(2).key, Prefix(3).key}, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("keys[2] is absent"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, Prefix(0).payload);
  EXPECT_EQ(got[1].payload, Prefix(1).payload);
  EXPECT_EQ(server_->store().Stats().num_misses, 1);
}

TEST_F(KvStoreServiceTest, GetValidatesItsKeys) {
  std::vector<Block> got;
  EXPECT_THAT(client_->GetBlocks({}, &got).message(), HasSubstr("keys: has 0 keys; send 1..1024"));
  const std::vector<BlockKey> many(1025, Prefix(1).key);
  EXPECT_THAT(client_->GetBlocks(many, &got).message(), HasSubstr("has 1025 keys"));
  BlockKey bad = Prefix(1).key;
  bad.logical_id = "short";
  const absl::Status status = client_->GetBlocks({Prefix(1).key, bad}, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("keys[1]: logical_id is 5 bytes"));
  v1::GetRequest request;
  *request.add_keys() = v1::BlockKey();
  request.mutable_keys(0)->set_tenant("acme");
  request.mutable_keys(0)->set_logical_id(TestLogicalId(1));
  request.mutable_keys(0)->mutable_shard()->set_num_kv_heads(1);
  grpc::ClientContext context;
  auto reader = stub_->Get(&context, request);
  v1::GetResponse response;
  EXPECT_FALSE(reader->Read(&response));
  const grpc::Status unspecified = reader->Finish();
  EXPECT_EQ(unspecified.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unspecified.error_message(), HasSubstr("KV_DTYPE_UNSPECIFIED"));
}

TEST_F(KvStoreServiceTest, AnotherTenantsBlockReadsExactlyAsAnAbsentOne) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1, "a"), Swap("w/1", 0, "a")}, kTtlMs, &outcomes).ok());
  std::vector<Block> got;
  const absl::Status other = client_->GetBlocks({Prefix(1, "b").key}, &got);
  const absl::Status never = client_->GetBlocks({Prefix(99, "b").key}, &got);
  EXPECT_EQ(other.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(other, never);  // same code, same message
  EXPECT_EQ(client_->GetBlocks({Swap("w/1", 0, "b").key}, &got).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*client_->Lookup("b", KvShard{}, DType::kF16, {TestLogicalId(1)}), 0);
  EXPECT_EQ(*client_->Lookup("a", KvShard{}, DType::kF16, {TestLogicalId(1)}), 1);
  EXPECT_EQ(*client_->Delete({Prefix(1, "b").key}), 0);
  EXPECT_EQ(*client_->DeleteSwapSequence("b", "w/1"), 0);
  EXPECT_TRUE(client_->GetBlocks({Prefix(1, "a").key, Swap("w/1", 0, "a").key}, &got).ok());
}

TEST_F(KvStoreServiceTest, LookupCountsTheLeadingPresentBlocks) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Prefix(2), Prefix(4)}, 0, &outcomes).ok());
  const std::vector<std::string> chain = {TestLogicalId(1), TestLogicalId(2), TestLogicalId(3),
                                          TestLogicalId(4)};
  EXPECT_EQ(*client_->Lookup("acme", KvShard{}, DType::kF16, chain), 2);
  EXPECT_EQ(*client_->Lookup("acme", KvShard{}, DType::kF32, chain), 0);
  const std::vector<std::string> bad = {TestLogicalId(1), "short"};
  const absl::StatusOr<int64_t> invalid = client_->Lookup("acme", KvShard{}, DType::kF16, bad);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid.status().message(), HasSubstr("logical_ids[1]"));
  EXPECT_THAT(client_->Lookup("acme", KvShard{}, DType::kF16, {}).status().message(),
              HasSubstr("has 0 ids; send 1..4096"));
  const std::vector<std::string> too_many(4097, TestLogicalId(1));
  EXPECT_EQ(client_->Lookup("acme", KvShard{}, DType::kF16, too_many).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Lookup("", KvShard{}, DType::kF16, chain).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->Lookup("acme", KvShard{-1, 1}, DType::kF16, chain).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KvStoreServiceTest, DeleteSkipsAbsentKeysAndRemovesWholeSequences) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Swap("w/1", 0), Swap("w/1", 1), Swap("w/2", 0)},
                                 kTtlMs, &outcomes)
                  .ok());
  EXPECT_EQ(*client_->Delete({Prefix(1).key, Prefix(7).key}), 1);
  EXPECT_EQ(*client_->Delete({Prefix(1).key}), 0);  // a retried Delete succeeds
  EXPECT_EQ(*client_->DeleteSwapSequence("acme", "w/1"), 2);
  EXPECT_EQ(NumBlocks(), 1);
  EXPECT_EQ(client_->Delete({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->DeleteSwapSequence("acme", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  grpc::ClientContext context;
  v1::DeleteResponse response;
  const grpc::Status nothing = stub_->Delete(&context, v1::DeleteRequest(), &response);
  EXPECT_EQ(nothing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(nothing.error_message(), HasSubstr("nothing named"));
}

TEST_F(KvStoreServiceTest, StatsReportTheStoreExactly) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Swap("w/1", 0)}, kTtlMs, &outcomes).ok());
  std::vector<Block> got;
  ASSERT_TRUE(client_->GetBlocks({Prefix(1).key}, &got).ok());
  ASSERT_FALSE(client_->GetBlocks({Prefix(2).key}, &got).ok());
  const absl::StatusOr<StoreStats> stats = client_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->tiers.size(), 1u);
  const TierStats& memory = stats->tiers[0];
  EXPECT_EQ(memory.tier, TierKind::kMemory);
  EXPECT_EQ(memory.capacity_bytes, int64_t{1} << 30);
  EXPECT_EQ(memory.used_bytes, MemoryBlockStore::RecordBytes(Prefix(1)) +
                                   MemoryBlockStore::RecordBytes(Swap("w/1", 0)));
  EXPECT_EQ(memory.num_prefix_blocks, 1);
  EXPECT_EQ(memory.num_swap_blocks, 1);
  EXPECT_EQ(memory.num_hits, 1);
  EXPECT_EQ(stats->num_misses, 1);
}

TEST_F(KvStoreServiceTest, ACorruptStoredBlockIsNeverSent) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Prefix(2)}, 0, &outcomes).ok());
  ASSERT_TRUE(server_->store().CorruptForTesting(Prefix(2).key).ok());
  std::vector<Block> got;
  const absl::Status status = client_->GetBlocks({Prefix(1).key, Prefix(2).key}, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("keys[1] is absent"));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(server_->store().Stats().tiers[0].num_corrupt_dropped, 1);
}

TEST_F(KvStoreServiceTest, AFullStoreIsResourceExhaustedAfterTheBlocksBefore) {
  KvStoreTestServerOptions options;
  options.store.capacity_bytes = 2 * MemoryBlockStore::RecordBytes(Swap("w/1", 0));
  StartServer(options);
  std::vector<PutOutcome> outcomes;
  const absl::Status status = client_->PutBlocks(
      {Swap("w/1", 0), Swap("w/1", 1), Swap("w/1", 2), Swap("w/1", 3)}, kTtlMs, &outcomes);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("block 2: swap space is full"));
  EXPECT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(NumBlocks(), 2);
}

TEST_F(KvStoreServiceTest, TheClientRefusesAPayloadThatDoesNotMatchItsLayout) {
  Block block = Prefix(1);
  block.payload.pop_back();
  std::vector<PutOutcome> outcomes;
  const absl::Status status = client_->PutBlocks({Prefix(2), block}, 0, &outcomes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("blocks[1]: the payload is 1023 bytes"));
  EXPECT_EQ(NumBlocks(), 0);  // nothing was sent
}

TEST_F(KvStoreServiceTest, InvalidOptionsAreRefused) {
  KvStoreServiceOptions options;
  options.num_store_threads = 0;
  MemoryBlockStore store(MemoryBlockStoreOptions{});
  EXPECT_EQ(KvStoreService::Create(&store, *Authenticator::Create({}, {}), nullptr, options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  options.num_store_threads = 1;
  options.limits.max_swap_ttl_ms = -1;
  EXPECT_EQ(KvStoreService::Create(&store, *Authenticator::Create({}, {}), nullptr, options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gqa::kvstore
