// Two engine loops ("workers") over one kvstore (a real gqa.v1.KvStore
// server on loopback): the second loop serving a prompt the first already
// computed takes the prompt's full blocks from the kvstore instead of
// computing them, and its greedy output is identical.
#include "worker/service/kvstore_prefix_tier.h"

#include <numeric>
#include <optional>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kvstore/service/testing/kvstore_test_server.h"
#include "worker/engine/testing/tiny_engine.h"
#include "worker/service/engine_loop.h"

namespace gqa {
namespace {

class CollectingSink final : public SequenceSink {
 public:
  void OnToken(const SequenceUpdate& update) override { tokens.push_back(update.token.token_id); }
  void OnFinish(const SequenceSummary& finished) override {
    summary = finished;
    done.Notify();
  }
  std::vector<int32_t> tokens;
  SequenceSummary summary;
  absl::Notification done;
};

std::unique_ptr<EngineRequest> Request(const std::string& id, const std::vector<int32_t>& prompt) {
  auto request = std::make_unique<EngineRequest>();
  request->id = id;
  request->tenant = "tenant-a";
  request->prompt_ids = prompt;
  request->max_new_tokens = 6;
  request->sampling.temperature = 0.0f;
  return request;
}

TinyEngineOptions EngineOptions(DType cache) {
  TinyEngineOptions options;
  options.kv_dtype = cache;
  return options;
}

struct Worker {
  explicit Worker(const std::string& kvstore_address, DType cache = DType::kF32,
                  std::optional<DType> stored = std::nullopt)
      : engine(MakeTinyEngine(EngineOptions(cache))) {
    KvStorePrefixTierOptions options;
    options.geometry = KvStoreBlockGeometry::Of(*engine.model, *engine.storage);
    options.stored_dtype = stored;
    tier = std::make_unique<KvStorePrefixTier>(
        std::make_unique<kvstore::KvStoreClient>(
            kvstore::NewKvStoreChannel(kvstore_address, grpc::InsecureChannelCredentials())),
        options);
    loop = std::make_unique<EngineLoop>(engine.model.get(), engine.storage.get(), Env::Default(),
                                        SchedulerOptions(), nullptr, tier.get());
  }
  std::shared_ptr<CollectingSink> Run(const std::string& id, const std::vector<int32_t>& prompt) {
    auto sink = std::make_shared<CollectingSink>();
    EXPECT_TRUE(loop->Submit(Request(id, prompt), sink).ok());
    EXPECT_TRUE(sink->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    return sink;
  }
  TinyEngine engine;
  std::unique_ptr<KvStorePrefixTier> tier;
  std::unique_ptr<EngineLoop> loop;
};

TEST(KvStorePrefixTierTest, ASecondWorkerTakesTheComputedPrefixFromTheKvstore) {
  absl::StatusOr<std::unique_ptr<kvstore::KvStoreTestServer>> server =
      kvstore::KvStoreTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int32_t> prompt(23);  // 5 full blocks of 4 within the first 22 tokens
  std::iota(prompt.begin(), prompt.end(), 3);

  Worker first((*server)->address());
  std::shared_ptr<CollectingSink> a = first.Run("a", prompt);
  EXPECT_EQ(a->summary.cached_tokens, 0);
  for (int i = 0; i < 100 && first.tier->num_uploaded() < 5; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(first.tier->num_uploaded(), 5);
  EXPECT_EQ(first.tier->num_dropped(), 0);

  Worker second((*server)->address());
  std::shared_ptr<CollectingSink> b = second.Run("b", prompt);
  EXPECT_EQ(b->summary.cached_tokens, 20);  // 5 blocks from the kvstore
  EXPECT_EQ(b->tokens, a->tokens);          // the imported KV is the computed KV

  // A worker without the tier computes everything and agrees too.
  TinyEngine plain = MakeTinyEngine({});
  EngineLoop alone(plain.model.get(), plain.storage.get(), Env::Default(), SchedulerOptions());
  auto sink = std::make_shared<CollectingSink>();
  ASSERT_TRUE(alone.Submit(Request("c", prompt), sink).ok());
  ASSERT_TRUE(sink->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(sink->tokens, a->tokens);

  // Another tenant finds nothing.
  auto other = std::make_shared<CollectingSink>();
  auto request = Request("d", prompt);
  request->tenant = "tenant-b";
  ASSERT_TRUE(second.loop->Submit(std::move(request), other).ok());
  ASSERT_TRUE(other->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(other->summary.cached_tokens, 0);
}

TEST(KvStorePrefixTierTest, AnUnreachableKvstoreOnlyCostsTheRecomputation) {
  Worker lonely("127.0.0.1:1");  // nothing listens there
  std::vector<int32_t> prompt(13);
  std::iota(prompt.begin(), prompt.end(), 5);
  std::shared_ptr<CollectingSink> result = lonely.Run("x", prompt);
  EXPECT_EQ(result->summary.finish, EngineFinish::kLength);
  EXPECT_EQ(result->tokens.size(), 6u);
}

TEST(KvStorePrefixTierTest, OptedInFp8StorageIsSmallerAndStillReused) {
  absl::StatusOr<std::unique_ptr<kvstore::KvStoreTestServer>> server =
      kvstore::KvStoreTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<int32_t> prompt(23);
  std::iota(prompt.begin(), prompt.end(), 3);
  Worker first((*server)->address(), DType::kBF16, DType::kFp8E4M3);
  std::shared_ptr<CollectingSink> a = first.Run("a", prompt);
  for (int i = 0; i < 100 && first.tier->num_uploaded() < 5; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(first.tier->num_uploaded(), 5);
  // Stored as FP8 under the FP8 key: one byte per element plus f32 scales.
  kvstore::KvStoreClient client((*server)->Channel());
  const ModelConfig& config = first.engine.model->config();
  kvstore::BlockKey key;
  key.tenant = "tenant-a";
  const std::vector<BlockId> chain = ChainBlockIds(
      RootBlockId(first.engine.model->fingerprint(), "tenant-a"), prompt, 4);
  key.logical_id.assign(reinterpret_cast<const char*>(chain[0].data()), chain[0].size());
  key.shard.num_kv_heads = static_cast<int32_t>(config.num_kv_heads);
  key.dtype = DType::kFp8E4M3;
  std::vector<kvstore::Block> blocks;
  ASSERT_TRUE(client.GetBlocks({key}, &blocks).ok());
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(static_cast<int64_t>(blocks[0].payload.size()),
            config.num_layers * config.num_kv_heads * 2 * 4 * (config.head_dim + 4));
  key.dtype = DType::kBF16;
  EXPECT_EQ(client.GetBlocks({key}, &blocks).code(), absl::StatusCode::kNotFound);
  Worker second((*server)->address(), DType::kBF16, DType::kFp8E4M3);
  std::shared_ptr<CollectingSink> b = second.Run("b", prompt);
  EXPECT_EQ(b->summary.cached_tokens, 20);
  EXPECT_EQ(b->tokens.size(), a->tokens.size());
  // A worker that stores bf16 does not see the FP8 blocks (the dtype is in the key).
  Worker plain((*server)->address(), DType::kBF16);
  EXPECT_EQ(plain.Run("c", prompt)->summary.cached_tokens, 0);
}

}  // namespace
}  // namespace gqa
