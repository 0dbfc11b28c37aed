// KvStoreService over a memory-only TieredBlockStore, on a real loopback
// socket, with the store calls inline on gRPC's threads and (the same tests)
// through the StoreExecutor: both paths give the same answers, still refuse
// a block whose checksum does not match on Put (single and multi-chunk), and
// never send a block corrupted in memory. Also: which stores go inline.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvstore/service/kvstore_client.h"
#include "kvstore/service/kvstore_service.h"
#include "kvstore/service/testing/memory_block_store.h"
#include "kvstore/service/testing/put_stream_driver.h"
#include "kvstore/service/testing/test_blocks.h"
#include "kvstore/store/tiered_block_store.h"

namespace gqa::kvstore {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kTtlMs = 60000;

// A memory-only TieredBlockStore served on 127.0.0.1; GetParam(): inline.
class KvStoreInlineTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    TieredBlockStoreOptions options;
    options.memory_bytes = int64_t{64} << 20;
    absl::StatusOr<std::unique_ptr<TieredBlockStore>> store =
        TieredBlockStore::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<Authenticator> auth = Authenticator::Create({}, {});
    ASSERT_TRUE(auth.ok()) << auth.status();
    KvStoreServiceOptions service_options;
    service_options.inline_memory_store_calls = GetParam();
    absl::StatusOr<std::unique_ptr<KvStoreService>> service =
        KvStoreService::Create(store_.get(), *std::move(auth), nullptr, service_options);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    ASSERT_EQ(service_->inline_store_calls(), GetParam());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    channel_ =
        NewKvStoreChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    stub_ = v1::KvStore::NewStub(channel_);
    client_ = std::make_unique<KvStoreClient>(channel_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  static Block Prefix(uint64_t seed, int64_t bytes = 4096) {
    return TestBlock(TestPrefixKey("acme", seed), TestLayoutOfBytes(bytes, DType::kF16), seed);
  }
  static Block Swap(const std::string& seq_id, int64_t idx, uint64_t seed) {
    return TestBlock(TestSwapKey("acme", seq_id, idx), TestLayoutOfBytes(4096, DType::kF16), seed);
  }
  void ExpectStored(const Block& block) {
    std::vector<Block> got;
    ASSERT_TRUE(client_->GetBlocks({block.key}, &got).ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].layout, block.layout);
    EXPECT_EQ(got[0].payload_crc32c, block.payload_crc32c);
    EXPECT_TRUE(got[0].payload == block.payload);
  }
  void ExpectAbsent(const BlockKey& key) {
    std::vector<Block> got;
    EXPECT_EQ(client_->GetBlocks({key}, &got).code(), absl::StatusCode::kNotFound);
  }

  std::unique_ptr<TieredBlockStore> store_;
  std::unique_ptr<KvStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::KvStore::Stub> stub_;
  std::unique_ptr<KvStoreClient> client_;
};

TEST_P(KvStoreInlineTest, PutAndGetRoundTripIncludingMultiChunkBlocks) {
  const Block large = Prefix(3, (int64_t{5} << 20) / 2);  // 2.5 MiB: three chunks
  const std::vector<Block> blocks = {Prefix(1), Prefix(2, 65536), large, Swap("w/1", 0, 7)};
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, kTtlMs, &outcomes).ok());
  EXPECT_THAT(outcomes, ElementsAre(PutOutcome::kStored, PutOutcome::kStored, PutOutcome::kStored,
                                    PutOutcome::kStored));
  // A prefix block is kept; a swap block is replaced.
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Swap("w/1", 0, 8)}, kTtlMs, &outcomes).ok());
  EXPECT_THAT(outcomes, ElementsAre(PutOutcome::kAlreadyPresent, PutOutcome::kStored));
  std::vector<BlockKey> keys;
  for (const Block& block : blocks) keys.push_back(block.key);
  std::vector<Block> got;
  const absl::Status read = client_->GetBlocks(keys, &got);
  ASSERT_TRUE(read.ok()) << read;
  ASSERT_EQ(got.size(), blocks.size());
  for (size_t i = 0; i + 1 < blocks.size(); ++i) {
    EXPECT_EQ(got[i].key, blocks[i].key);
    EXPECT_TRUE(got[i].payload == blocks[i].payload) << "block " << i;
  }
  EXPECT_TRUE(got[3].payload == Swap("w/1", 0, 8).payload);
  // A multi-chunk block last: its last chunk carries the call's status.
  ASSERT_TRUE(client_->GetBlocks({blocks[0].key, large.key}, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[1].payload == large.payload);
  // Odd chunk sizes: the checksum runs over the bytes as appended.
  const Block odd = Prefix(4, 3 << 20);
  const RawPutResult result = RawPut(*stub_, BlockMessages(odd, 0, 300001));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
  ExpectStored(odd);
}

TEST_P(KvStoreInlineTest, ABadChecksumIsDataLossAndNotStored) {
  std::vector<v1::PutRequest> messages = BlockMessages(Prefix(1), 0);
  std::vector<v1::PutRequest> bad = BlockMessages(Prefix(2), 0);
  bad[0].mutable_header()->set_payload_crc32c(bad[0].header().payload_crc32c() ^ 1);
  messages.insert(messages.end(), bad.begin(), bad.end());
  RawPutResult result = RawPut(*stub_, messages);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(result.status.error_message(), HasSubstr("block 1: the payload's crc32c is 0x"));
  EXPECT_THAT(result.outcomes, ElementsAre(v1::PUT_OUTCOME_STORED));
  ExpectStored(Prefix(1));
  ExpectAbsent(Prefix(2).key);

  // A byte flipped in the last chunk of a multi-chunk block, header intact.
  std::vector<v1::PutRequest> chunks = BlockMessages(Prefix(3, 3 << 20), 0, 1 << 20);
  ASSERT_EQ(chunks.size(), 3u);
  (*chunks[2].mutable_chunk())[100] ^= 0x40;
  result = RawPut(*stub_, chunks);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_TRUE(result.outcomes.empty());
  ExpectAbsent(Prefix(3).key);
  EXPECT_EQ(store_->Stats().tiers[0].num_prefix_blocks, 1);
}

TEST_P(KvStoreInlineTest, ABlockCorruptedInMemoryIsNeverSent) {
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({Prefix(1), Prefix(2, 65536)}, 0, &outcomes).ok());
  ASSERT_TRUE(store_->memory_tier_for_testing()->CorruptPayloadForTesting(Prefix(2).key));
  std::vector<Block> got;
  const absl::Status status = client_->GetBlocks({Prefix(1).key, Prefix(2).key}, &got);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("keys[1] is absent"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload == Prefix(1).payload);
  EXPECT_EQ(store_->Stats().tiers[0].num_corrupt_dropped, 1);
}

TEST_P(KvStoreInlineTest, ConcurrentStreamsEachGetTheirOwnBlocksInOrder) {
  constexpr int kClients = 6;
  constexpr int kBlocks = 24;
  std::vector<std::thread> threads;
  std::vector<absl::Status> errors(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      KvStoreClient client(channel_);
      const std::string seq = absl::StrCat("w/", c);
      std::vector<Block> blocks;
      std::vector<BlockKey> keys;
      for (int i = 0; i < kBlocks; ++i) {
        blocks.push_back(Swap(seq, i, 100 * c + i));
        keys.push_back(blocks.back().key);
      }
      std::vector<PutOutcome> outcomes;
      std::vector<Block> got;
      for (int round = 0; round < 3 && errors[c].ok(); ++round) {
        errors[c] = client.PutBlocks(blocks, kTtlMs, &outcomes);
        if (errors[c].ok()) errors[c] = client.GetBlocks(keys, &got);
        for (int i = 0; errors[c].ok() && i < kBlocks; ++i) {
          if (!(got[i].payload == blocks[i].payload)) errors[c] = absl::InternalError("mixed up");
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int c = 0; c < kClients; ++c) EXPECT_TRUE(errors[c].ok()) << c << ": " << errors[c];
  EXPECT_EQ(store_->Stats().tiers[0].num_swap_blocks, kClients * kBlocks);
}

INSTANTIATE_TEST_SUITE_P(InlineAndExecutor, KvStoreInlineTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Inline" : "Executor";
                         });

TEST(KvStoreInlineRuleTest, OnlyAMemoryOnlyStoreRunsInline) {
  auto service_over = [](BlockStore* store) {
    absl::StatusOr<Authenticator> auth = Authenticator::Create({}, {});
    EXPECT_TRUE(auth.ok());
    return KvStoreService::Create(store, *std::move(auth), nullptr, KvStoreServiceOptions());
  };
  // A store that promises nothing (the service tests' MemoryBlockStore).
  MemoryBlockStore plain{MemoryBlockStoreOptions()};
  auto service = service_over(&plain);
  ASSERT_TRUE(service.ok());
  EXPECT_FALSE((*service)->inline_store_calls());
  // A store with a disk tier: disk I/O never runs on a gRPC thread.
  const std::string dir = ::testing::TempDir() + "kvstore_inline_test_disk";
  TieredBlockStoreOptions options;
  options.memory_bytes = 1 << 20;
  options.disk_dir = dir;
  options.disk_bytes = 1 << 20;
  auto tiered = TieredBlockStore::Open(std::move(options));
  ASSERT_TRUE(tiered.ok()) << tiered.status();
  service = service_over(tiered->get());
  ASSERT_TRUE(service.ok());
  EXPECT_FALSE((*service)->inline_store_calls());
}

}  // namespace
}  // namespace gqa::kvstore
