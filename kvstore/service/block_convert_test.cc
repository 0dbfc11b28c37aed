// Every INVALID_ARGUMENT case kvstore.proto lists for keys, layouts, TTLs and
// request sizes, at the conversion layer (the service tests repeat them
// through the API), and the round trips between the store types and protos.
#include "kvstore/service/block_convert.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

using ::testing::HasSubstr;

v1::PutRequest ValidPrefixPut() {
  v1::PutRequest request;
  v1::BlockHeader* header = request.mutable_header();
  header->mutable_key()->set_tenant("acme");
  header->mutable_key()->set_logical_id(std::string(32, 'x'));
  header->mutable_key()->mutable_shard()->set_first_kv_head(2);
  header->mutable_key()->mutable_shard()->set_num_kv_heads(3);
  header->mutable_key()->set_dtype(v1::KV_DTYPE_F16);
  header->mutable_layout()->set_num_layers(30);
  header->mutable_layout()->set_block_tokens(16);
  header->mutable_layout()->set_head_dim(64);
  header->mutable_layout()->set_scale_dtype(v1::SCALE_DTYPE_NONE);
  header->set_payload_crc32c(0x12345678);
  return request;
}

v1::PutRequest ValidSwapPut() {
  v1::PutRequest request = ValidPrefixPut();
  request.mutable_header()->mutable_key()->mutable_swap()->set_seq_id("worker-1/req-9");
  request.mutable_header()->mutable_key()->mutable_swap()->set_block_idx(7);
  request.set_swap_ttl_ms(60000);
  return request;
}

TEST(BlockConvertTest, AValidPrefixHeaderConverts) {
  absl::StatusOr<PutHeader> put = PutHeaderFromProto(ValidPrefixPut(), KvStoreLimits(), 0);
  ASSERT_TRUE(put.ok()) << put.status();
  const Block& block = put->block;
  EXPECT_EQ(block.key.tenant, "acme");
  EXPECT_EQ(block.key.kind, BlockKind::kPrefix);
  EXPECT_EQ(block.key.logical_id, std::string(32, 'x'));
  EXPECT_EQ(block.key.shard, (KvShard{2, 3}));
  EXPECT_EQ(block.key.dtype, DType::kF16);
  EXPECT_EQ(block.layout, (BlockLayout{30, 16, 64}));
  EXPECT_EQ(block.payload_crc32c, 0x12345678u);
  // DESIGN.md's formula: layers x kv_heads x 2 x tokens x head_dim x bytes.
  EXPECT_EQ(put->payload_bytes, 30 * 3 * 2 * 16 * 64 * 2);
  EXPECT_EQ(put->swap_ttl_ms, 0);
}

TEST(BlockConvertTest, Fp8PayloadsCarryOneF32ScalePerRow) {
  v1::PutRequest request = ValidPrefixPut();
  request.mutable_header()->mutable_key()->set_dtype(v1::KV_DTYPE_FP8_E4M3);
  request.mutable_header()->mutable_layout()->set_scale_dtype(v1::SCALE_DTYPE_F32);
  absl::StatusOr<PutHeader> put = PutHeaderFromProto(request, KvStoreLimits(), 0);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->payload_bytes, 30 * 3 * 2 * 16 * (64 * 1 + 4));
}

TEST(BlockConvertTest, AValidSwapHeaderConverts) {
  absl::StatusOr<PutHeader> put = PutHeaderFromProto(ValidSwapPut(), KvStoreLimits(), 0);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->block.key.kind, BlockKind::kSwap);
  EXPECT_EQ(put->block.key.seq_id, "worker-1/req-9");
  EXPECT_EQ(put->block.key.block_idx, 7);
  EXPECT_EQ(put->swap_ttl_ms, 60000);
}

struct BadHeader {
  std::string name;
  std::function<void(v1::PutRequest&)> mutate;
  std::string message;  // a part of the error message
};

class BadHeaderTest : public ::testing::TestWithParam<BadHeader> {};

TEST_P(BadHeaderTest, IsInvalidArgumentNamingTheFieldAndBound) {
  v1::PutRequest request = ValidSwapPut();
  GetParam().mutate(request);
  absl::StatusOr<PutHeader> put = PutHeaderFromProto(request, KvStoreLimits(), 4);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << put.status();
  EXPECT_THAT(put.status().message(), HasSubstr("block 4"));
  EXPECT_THAT(put.status().message(), HasSubstr(GetParam().message));
}

v1::BlockKey* Key(v1::PutRequest& r) { return r.mutable_header()->mutable_key(); }
v1::BlockLayout* Layout(v1::PutRequest& r) { return r.mutable_header()->mutable_layout(); }

INSTANTIATE_TEST_SUITE_P(
    EveryRule, BadHeaderTest,
    ::testing::Values(
        BadHeader{"EmptyTenant", [](auto& r) { Key(r)->set_tenant(""); },
                  "tenant is 0 bytes; it must be 1..128"},
        BadHeader{"LongTenant", [](auto& r) { Key(r)->set_tenant(std::string(129, 't')); },
                  "tenant is 129 bytes"},
        BadHeader{"NoId", [](auto& r) { Key(r)->clear_id(); }, "set logical_id"},
        BadHeader{"ShortLogicalId", [](auto& r) { Key(r)->set_logical_id(std::string(31, 'x')); },
                  "logical_id is 31 bytes; it must be exactly 32"},
        BadHeader{"LongLogicalId", [](auto& r) { Key(r)->set_logical_id(std::string(33, 'x')); },
                  "logical_id is 33 bytes"},
        BadHeader{"EmptySeqId", [](auto& r) { Key(r)->mutable_swap()->set_seq_id(""); },
                  "seq_id is 0 bytes; it must be 1..256"},
        BadHeader{"LongSeqId",
                  [](auto& r) { Key(r)->mutable_swap()->set_seq_id(std::string(257, 's')); },
                  "seq_id is 257 bytes"},
        BadHeader{"NegativeBlockIdx", [](auto& r) { Key(r)->mutable_swap()->set_block_idx(-1); },
                  "block_idx = -1 must be >= 0"},
        BadHeader{"NegativeFirstHead",
                  [](auto& r) { Key(r)->mutable_shard()->set_first_kv_head(-1); },
                  "first_kv_head >= 0"},
        BadHeader{"ZeroHeads", [](auto& r) { Key(r)->mutable_shard()->set_num_kv_heads(0); },
                  "num_kv_heads >= 1"},
        BadHeader{"ShardPastMaxHeads",
                  [](auto& r) { Key(r)->mutable_shard()->set_first_kv_head(1023); },
                  "first_kv_head + num_kv_heads <= 1024"},
        BadHeader{"DtypeUnspecified", [](auto& r) { Key(r)->set_dtype(v1::KV_DTYPE_UNSPECIFIED); },
                  "KV_DTYPE_UNSPECIFIED"},
        BadHeader{"DtypeUnknown", [](auto& r) { Key(r)->set_dtype(static_cast<v1::KvDtype>(42)); },
                  "dtype 42 (unknown)"},
        BadHeader{"ZeroLayers", [](auto& r) { Layout(r)->set_num_layers(0); },
                  "num_layers = 0 must be >= 1"},
        BadHeader{"ZeroTokens", [](auto& r) { Layout(r)->set_block_tokens(0); },
                  "block_tokens = 0 must be in [1, 1024]"},
        BadHeader{"TooManyTokens", [](auto& r) { Layout(r)->set_block_tokens(1025); },
                  "block_tokens = 1025"},
        BadHeader{"ZeroHeadDim", [](auto& r) { Layout(r)->set_head_dim(0); },
                  "head_dim = 0 must be >= 1"},
        BadHeader{"ScaleUnspecified",
                  [](auto& r) { Layout(r)->set_scale_dtype(v1::SCALE_DTYPE_UNSPECIFIED); },
                  "must be SCALE_DTYPE_NONE"},
        BadHeader{"ScalesOnF16", [](auto& r) { Layout(r)->set_scale_dtype(v1::SCALE_DTYPE_F32); },
                  "does not fit dtype f16"},
        BadHeader{"NoScalesOnFp8", [](auto& r) { Key(r)->set_dtype(v1::KV_DTYPE_FP8_E5M2); },
                  "must be SCALE_DTYPE_F32"},
        BadHeader{"Oversize", [](auto& r) { Layout(r)->set_head_dim(1 << 20); },
                  "exceeds the store's maximum block size of 67108864 bytes"},
        BadHeader{"HugeDimensionsDoNotOverflow",
                  [](auto& r) {
                    Layout(r)->set_num_layers(2147483647);
                    Layout(r)->set_head_dim(2147483647);
                  },
                  "exceeds the store's maximum"},
        BadHeader{"SwapWithoutTtl", [](auto& r) { r.set_swap_ttl_ms(0); },
                  "swap_ttl_ms = 0 must be in [1, 600000] for a swap block"},
        BadHeader{"SwapTtlTooLong", [](auto& r) { r.set_swap_ttl_ms(600001); },
                  "swap_ttl_ms = 600001"},
        BadHeader{"NegativeTtl", [](auto& r) { r.set_swap_ttl_ms(-5); }, "swap_ttl_ms = -5"},
        BadHeader{"TtlOnPrefix", [](auto& r) { Key(r)->set_logical_id(std::string(32, 'p')); },
                  "must be 0 for a prefix block"}),
    [](const ::testing::TestParamInfo<BadHeader>& info) { return info.param.name; });

TEST(BlockConvertTest, LimitsAreOptions) {
  KvStoreLimits limits;
  limits.max_swap_ttl_ms = 1000;
  v1::PutRequest request = ValidSwapPut();
  request.set_swap_ttl_ms(1001);
  EXPECT_THAT(PutHeaderFromProto(request, limits, 0).status().message(),
              HasSubstr("must be in [1, 1000]"));
  request.set_swap_ttl_ms(1000);
  EXPECT_TRUE(PutHeaderFromProto(request, limits, 0).ok());
  limits.max_block_bytes = 1024;
  EXPECT_THAT(PutHeaderFromProto(request, limits, 0).status().message(),
              HasSubstr("maximum block size of 1024 bytes"));
  Layout(request)->set_num_layers(1);
  Layout(request)->set_block_tokens(1);
  Layout(request)->set_head_dim(85);  // 3 x 2 x 1 x 85 x 2 = 1020 bytes
  EXPECT_TRUE(PutHeaderFromProto(request, limits, 0).ok());
  EXPECT_TRUE(ValidateLimits(KvStoreLimits()).ok());
  limits.max_block_bytes = 0;
  EXPECT_EQ(ValidateLimits(limits).code(), absl::StatusCode::kInvalidArgument);
  limits = KvStoreLimits();
  limits.max_swap_ttl_ms = 0;
  EXPECT_EQ(ValidateLimits(limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(BlockConvertTest, KeyListsAreOneTo1024AndNameTheBadIndex) {
  google::protobuf::RepeatedPtrField<v1::BlockKey> keys;
  EXPECT_THAT(KeysFromProto(keys, KvStoreLimits(), "keys").status().message(),
              HasSubstr("has 0 keys; send 1..1024"));
  for (int i = 0; i < 1025; ++i) *keys.Add() = ValidPrefixPut().header().key();
  EXPECT_THAT(KeysFromProto(keys, KvStoreLimits(), "keys").status().message(),
              HasSubstr("has 1025 keys"));
  keys.RemoveLast();
  EXPECT_TRUE(KeysFromProto(keys, KvStoreLimits(), "keys").ok());
  keys[17].set_tenant("");
  absl::Status status = KeysFromProto(keys, KvStoreLimits(), "keys").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("keys[17]: tenant is 0 bytes"));
}

TEST(BlockConvertTest, LookupRules) {
  v1::LookupRequest request;
  request.set_tenant("acme");
  request.mutable_shard()->set_num_kv_heads(1);
  request.set_dtype(v1::KV_DTYPE_BF16);
  EXPECT_THAT(LookupQueryFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("has 0 ids; send 1..4096"));
  for (int i = 0; i < 4097; ++i) request.add_logical_ids(std::string(32, 'a'));
  EXPECT_THAT(LookupQueryFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("has 4097 ids"));
  request.mutable_logical_ids()->RemoveLast();
  absl::StatusOr<LookupQuery> query = LookupQueryFromProto(request, KvStoreLimits());
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->logical_ids.size(), 4096u);
  EXPECT_EQ(query->dtype, DType::kBF16);
  request.set_logical_ids(9, "short");
  EXPECT_THAT(LookupQueryFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("logical_ids[9]: is 5 bytes; it must be exactly 32"));
  request.set_logical_ids(9, std::string(32, 'a'));
  request.set_dtype(v1::KV_DTYPE_UNSPECIFIED);
  EXPECT_EQ(LookupQueryFromProto(request, KvStoreLimits()).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_dtype(v1::KV_DTYPE_F32);
  request.mutable_shard()->set_num_kv_heads(0);
  EXPECT_THAT(LookupQueryFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("num_kv_heads >= 1"));
  request.mutable_shard()->set_num_kv_heads(1);
  request.set_tenant("");
  EXPECT_THAT(LookupQueryFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("tenant is 0 bytes"));
}

TEST(BlockConvertTest, DeleteNamesKeysOrOneSwapSequence) {
  v1::DeleteRequest request;
  EXPECT_THAT(DeleteTargetFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("nothing named"));
  request.mutable_keys();
  EXPECT_THAT(DeleteTargetFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("has 0 keys"));
  *request.mutable_keys()->add_keys() = ValidSwapPut().header().key();
  absl::StatusOr<DeleteTarget> target = DeleteTargetFromProto(request, KvStoreLimits());
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->keys.size(), 1u);
  EXPECT_TRUE(target->seq_id.empty());
  request.mutable_swap_sequence()->set_tenant("acme");
  EXPECT_THAT(DeleteTargetFromProto(request, KvStoreLimits()).status().message(),
              HasSubstr("seq_id is 0 bytes"));
  request.mutable_swap_sequence()->set_seq_id("w/1");
  target = DeleteTargetFromProto(request, KvStoreLimits());
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->tenant, "acme");
  EXPECT_EQ(target->seq_id, "w/1");
  EXPECT_TRUE(target->keys.empty());
}

TEST(BlockConvertTest, HeadersRoundTrip) {
  for (const v1::PutRequest& request : {ValidPrefixPut(), ValidSwapPut()}) {
    absl::StatusOr<PutHeader> put = PutHeaderFromProto(request, KvStoreLimits(), 0);
    ASSERT_TRUE(put.ok()) << put.status();
    v1::BlockHeader header;
    BlockHeaderToProto(put->block, &header);
    EXPECT_EQ(header.SerializeAsString(), request.header().SerializeAsString());
    absl::StatusOr<Block> back = BlockFromHeaderProto(header, KvStoreLimits());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->key, put->block.key);
    EXPECT_EQ(back->layout, put->block.layout);
  }
}

TEST(BlockConvertTest, StatsAndOutcomesRoundTrip) {
  StoreStats stats;
  TierStats memory;
  memory.tier = TierKind::kMemory;
  memory.capacity_bytes = 100;
  memory.used_bytes = 40;
  memory.num_prefix_blocks = 3;
  memory.num_swap_blocks = 1;
  memory.num_hits = 9;
  memory.num_evictions = 2;
  memory.num_corrupt_dropped = 1;
  TierStats disk = memory;
  disk.tier = TierKind::kDisk;
  disk.capacity_bytes = 1000;
  stats.tiers = {memory, disk};
  stats.num_misses = 5;
  stats.num_expired_swap_blocks = 6;
  v1::StatsResponse proto;
  StatsToProto(stats, &proto);
  ASSERT_EQ(proto.tiers_size(), 2);
  EXPECT_EQ(proto.tiers(0).tier(), v1::STORAGE_TIER_MEMORY);
  EXPECT_EQ(proto.tiers(1).tier(), v1::STORAGE_TIER_DISK);
  const StoreStats back = StatsFromProto(proto);
  ASSERT_EQ(back.tiers.size(), 2u);
  EXPECT_EQ(back.tiers[1].capacity_bytes, 1000);
  EXPECT_EQ(back.tiers[0].num_corrupt_dropped, 1);
  EXPECT_EQ(back.num_misses, 5);
  EXPECT_EQ(back.num_expired_swap_blocks, 6);
  for (PutOutcome outcome : {PutOutcome::kStored, PutOutcome::kAlreadyPresent}) {
    EXPECT_EQ(*PutOutcomeFromProto(PutOutcomeToProto(outcome)), outcome);
  }
  EXPECT_FALSE(PutOutcomeFromProto(v1::PUT_OUTCOME_UNSPECIFIED).ok());
}

}  // namespace
}  // namespace gqa::kvstore
