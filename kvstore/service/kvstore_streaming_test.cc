// KvStoreService streaming behaviour on a real loopback socket: blocks larger
// than one message travel in 1 MiB chunks both ways, a Get whose reader
// stalls does not make the server read (and buffer) the rest of the blocks,
// cancelled calls leave the server healthy, concurrent clients, and the
// gqa_kvstore_* metrics.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvstore/service/kvstore_client.h"
#include "kvstore/service/kvstore_metrics.h"
#include "kvstore/service/testing/kvstore_test_server.h"
#include "kvstore/service/testing/put_stream_driver.h"
#include "kvstore/service/testing/test_blocks.h"
#include "prometheus/metric_family.h"

namespace gqa::kvstore {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

class KvStoreStreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<KvStoreTestServer>> server = KvStoreTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->NewStub();
    client_ = std::make_unique<KvStoreClient>(server_->Channel());
  }

  static Block BlockOfBytes(uint64_t seed, int64_t bytes) {
    return TestBlock(TestPrefixKey("acme", seed), TestLayoutOfBytes(bytes, DType::kF16), seed);
  }

  std::unique_ptr<KvStoreTestServer> server_;
  std::unique_ptr<v1::KvStore::Stub> stub_;
  std::unique_ptr<KvStoreClient> client_;
};

TEST_F(KvStoreStreamingTest, ALargeBlockTravelsInOneMebibyteChunks) {
  const Block block = BlockOfBytes(1, 3 * kMiB);
  ASSERT_EQ(block.payload.size(), static_cast<size_t>(3 * kMiB));
  // The client splits it: header + 1 MiB, then two more chunks.
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({block}, 0, &outcomes).ok());
  ASSERT_EQ(outcomes.size(), 1u);

  v1::GetRequest request;
  BlockKeyToProto(block.key, request.add_keys());
  grpc::ClientContext context;
  auto reader = stub_->Get(&context, request);
  std::vector<v1::GetResponse> messages;
  for (v1::GetResponse message; reader->Read(&message);) messages.push_back(message);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_TRUE(messages[0].has_header());
  EXPECT_FALSE(messages[1].has_header());
  EXPECT_FALSE(messages[2].has_header());
  std::string payload;
  for (const v1::GetResponse& message : messages) {
    EXPECT_EQ(message.chunk().size(), static_cast<size_t>(kMiB));
    payload += message.chunk();
  }
  EXPECT_EQ(payload, block.payload);

  std::vector<Block> got;
  ASSERT_TRUE(client_->GetBlocks({block.key}, &got).ok());
  EXPECT_EQ(got[0].payload, block.payload);
}

TEST_F(KvStoreStreamingTest, ASmallBlockIsOneMessage) {
  const Block block = BlockOfBytes(1, 64 * 1024);
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({block}, 0, &outcomes).ok());
  v1::GetRequest request;
  BlockKeyToProto(block.key, request.add_keys());
  BlockKeyToProto(block.key, request.add_keys());
  grpc::ClientContext context;
  auto reader = stub_->Get(&context, request);
  int num_messages = 0;
  for (v1::GetResponse message; reader->Read(&message); ++num_messages) {
    EXPECT_TRUE(message.has_header());
    EXPECT_EQ(message.chunk(), block.payload);
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(num_messages, 2);
}

TEST_F(KvStoreStreamingTest, ASlowReaderDoesNotMakeTheServerBufferEverything) {
  constexpr int kBlocks = 64;
  std::vector<Block> blocks;
  std::vector<BlockKey> keys;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.push_back(BlockOfBytes(i, kMiB));
    keys.push_back(blocks.back().key);
  }
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, 0, &outcomes).ok());
  const int64_t gets_before = server_->store().num_get_calls_for_testing();

  // Without BDP probing the HTTP/2 window stays at its initial 64 KiB, so
  // what the server reads while the reader stalls is its own read-ahead: the
  // block being written, the one fetched next, and what the transport takes.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = v1::KvStore::NewStub(grpc::CreateCustomChannel(
      server_->address(), grpc::InsecureChannelCredentials(), args));
  v1::GetRequest request;
  for (const BlockKey& key : keys) BlockKeyToProto(key, request.add_keys());
  grpc::ClientContext context;
  auto reader = stub->Get(&context, request);
  v1::GetResponse message;
  ASSERT_TRUE(reader->Read(&message));
  absl::SleepFor(absl::Seconds(1));  // the reader stalls
  const int64_t read_while_stalled =
      server_->store().num_get_calls_for_testing() - gets_before;
  EXPECT_LE(read_while_stalled, 4) << "the server read ahead of a stalled reader";
  int num_blocks = 1;
  while (reader->Read(&message)) num_blocks += message.has_header() ? 1 : 0;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(num_blocks, kBlocks);
  EXPECT_EQ(server_->store().num_get_calls_for_testing() - gets_before, kBlocks);
  std::cerr << "blocks read while the reader stalled: " << read_while_stalled << " of "
            << kBlocks << "\n";
}

TEST_F(KvStoreStreamingTest, CancelledCallsLeaveTheServerHealthy) {
  std::vector<Block> blocks;
  for (int i = 0; i < 8; ++i) blocks.push_back(BlockOfBytes(i, 2 * kMiB));
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, 0, &outcomes).ok());
  {  // A Get cancelled after its first message.
    v1::GetRequest request;
    for (const Block& block : blocks) BlockKeyToProto(block.key, request.add_keys());
    grpc::ClientContext context;
    auto reader = stub_->Get(&context, request);
    v1::GetResponse message;
    ASSERT_TRUE(reader->Read(&message));
    context.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  {  // A Put cancelled mid-block.
    const Block block = BlockOfBytes(100, 3 * kMiB);
    std::vector<v1::PutRequest> messages = BlockMessages(block, 0);
    grpc::ClientContext context;
    auto stream = stub_->Put(&context);
    ASSERT_TRUE(stream->Write(messages[0]));
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
    std::vector<Block> got;
    EXPECT_EQ(client_->GetBlocks({block.key}, &got).code(), absl::StatusCode::kNotFound);
  }
  std::vector<Block> got;
  EXPECT_TRUE(client_->GetBlocks({blocks[0].key, blocks[7].key}, &got).ok());
}

TEST_F(KvStoreStreamingTest, DrainWaitsForCallsInFlightAndRefusesNewOnes) {
  std::vector<Block> blocks;
  for (int i = 0; i < 16; ++i) blocks.push_back(BlockOfBytes(i, kMiB));
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, 0, &outcomes).ok());
  v1::GetRequest request;
  for (const Block& block : blocks) BlockKeyToProto(block.key, request.add_keys());
  grpc::ClientContext context;
  auto reader = stub_->Get(&context, request);
  v1::GetResponse message;
  ASSERT_TRUE(reader->Read(&message));  // in flight, its reader stalled

  EXPECT_EQ(server_->service().Drain(absl::Milliseconds(200)), 1);
  const absl::Status refused = client_->Stats().status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.message(), HasSubstr("shutting down"));
  std::vector<Block> got;
  EXPECT_EQ(client_->GetBlocks({blocks[0].key}, &got).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client_->PutBlocks({blocks[0]}, 0, &outcomes).code(), absl::StatusCode::kUnavailable);

  int num_blocks = 1;
  while (reader->Read(&message)) num_blocks += message.has_header() ? 1 : 0;
  EXPECT_TRUE(reader->Finish().ok());  // the accepted call completes
  EXPECT_EQ(num_blocks, 16);
  EXPECT_EQ(server_->service().Drain(absl::Seconds(10)), 0);
}

TEST_F(KvStoreStreamingTest, ConcurrentClientsEachGetTheirOwnBlocks) {
  constexpr int kThreads = 8;
  constexpr int kBlocksPerThread = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Block> blocks;
      std::vector<BlockKey> keys;
      for (int i = 0; i < kBlocksPerThread; ++i) {
        blocks.push_back(TestBlock(TestSwapKey("acme", absl::StrCat("w/", t), i),
                                   TestLayoutOfBytes(64 * 1024, DType::kF16), t * 1000 + i));
        keys.push_back(blocks.back().key);
      }
      std::vector<PutOutcome> outcomes;
      std::vector<Block> got;
      if (!client_->PutBlocks(blocks, 60000, &outcomes).ok() ||
          !client_->GetBlocks(keys, &got).ok()) {
        failures.fetch_add(1);
        return;
      }
      for (int i = 0; i < kBlocksPerThread; ++i) {
        if (got[i].payload != blocks[i].payload) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server_->store().Stats().tiers[0].num_swap_blocks, kThreads * kBlocksPerThread);
}

TEST_F(KvStoreStreamingTest, ManyBlocksInOneStreamAreAnsweredInOrder) {
  std::vector<Block> blocks;
  for (int i = 0; i < 300; ++i) blocks.push_back(BlockOfBytes(i % 150, 4096));
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks(blocks, 0, &outcomes).ok());
  ASSERT_EQ(outcomes.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(outcomes[i], i < 150 ? PutOutcome::kStored : PutOutcome::kAlreadyPresent) << i;
  }
}

const prometheus::ClientMetric* FindSample(
    const std::vector<prometheus::MetricFamily>& families, const std::string& name,
    const std::vector<prometheus::ClientMetric::Label>& labels) {
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      bool match = true;
      for (const auto& label : labels) {
        match = match && std::find(metric.label.begin(), metric.label.end(), label) !=
                             metric.label.end();
      }
      if (match) return &metric;
    }
  }
  return nullptr;
}

TEST_F(KvStoreStreamingTest, MetricsCountCallsBytesAndTheStoresOwnFigures) {
  const Block block = BlockOfBytes(1, 64 * 1024);
  std::vector<PutOutcome> outcomes;
  ASSERT_TRUE(client_->PutBlocks({block, block}, 0, &outcomes).ok());
  std::vector<Block> got;
  ASSERT_TRUE(client_->GetBlocks({block.key}, &got).ok());
  ASSERT_FALSE(client_->GetBlocks({BlockOfBytes(2, 1024).key}, &got).ok());

  const std::vector<prometheus::MetricFamily> families = server_->registry().Collect();
  const auto* put_ok =
      FindSample(families, "gqa_kvstore_rpcs_total", {{"rpc", "put"}, {"code", "OK"}});
  ASSERT_NE(put_ok, nullptr);
  EXPECT_EQ(put_ok->counter.value, 1);
  const auto* get_missing =
      FindSample(families, "gqa_kvstore_rpcs_total", {{"rpc", "get"}, {"code", "NOT_FOUND"}});
  ASSERT_NE(get_missing, nullptr);
  EXPECT_EQ(get_missing->counter.value, 1);
  EXPECT_EQ(FindSample(families, "gqa_kvstore_put_bytes_total", {})->counter.value, 2 * 65536);
  EXPECT_EQ(FindSample(families, "gqa_kvstore_put_blocks_total", {{"outcome", "stored"}})
                ->counter.value,
            1);
  EXPECT_EQ(FindSample(families, "gqa_kvstore_put_blocks_total", {{"outcome", "already_present"}})
                ->counter.value,
            1);
  EXPECT_EQ(FindSample(families, "gqa_kvstore_get_bytes_total", {})->counter.value, 65536);
  EXPECT_EQ(FindSample(families, "gqa_kvstore_rpc_seconds", {{"rpc", "get"}})
                ->histogram.sample_count,
            2u);

  StoreStatsCollector collector(&server_->store());
  const std::vector<prometheus::MetricFamily> store = collector.Collect();
  EXPECT_EQ(FindSample(store, "gqa_kvstore_stored_bytes", {{"tier", "memory"}})->gauge.value,
            static_cast<double>(MemoryBlockStore::RecordBytes(block)));
  EXPECT_EQ(FindSample(store, "gqa_kvstore_blocks", {{"tier", "memory"}, {"kind", "prefix"}})
                ->gauge.value,
            1);
  EXPECT_EQ(FindSample(store, "gqa_kvstore_hits_total", {{"tier", "memory"}})->counter.value, 1);
  EXPECT_EQ(FindSample(store, "gqa_kvstore_misses_total", {})->counter.value, 1);
  EXPECT_NE(FindSample(store, "gqa_kvstore_evictions_total", {{"tier", "memory"}}), nullptr);
  EXPECT_NE(FindSample(store, "gqa_kvstore_corrupt_dropped_total", {{"tier", "memory"}}), nullptr);
  EXPECT_NE(FindSample(store, "gqa_kvstore_capacity_bytes", {{"tier", "memory"}}), nullptr);
}

}  // namespace
}  // namespace gqa::kvstore
