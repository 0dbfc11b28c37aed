#include "core/kv_size.h"

#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGiB = int64_t{1} << 30;

// The issue's worked example: 80 layers, head_dim 128, 64 query heads.
ModelConfig Llama70bShape(int64_t num_kv_heads) {
  ModelConfig model;
  model.num_layers = 80;
  model.hidden_size = 8192;
  model.num_query_heads = 64;
  model.num_kv_heads = num_kv_heads;
  model.head_dim = 128;
  model.intermediate_size = 28672;
  model.vocab_size = 32000;
  model.context_tokens = 4096;
  return model;
}

ModelConfig SmolLm2Shape() {
  ModelConfig model;
  model.num_layers = 30;
  model.hidden_size = 576;
  model.num_query_heads = 9;
  model.num_kv_heads = 3;
  model.head_dim = 64;
  model.intermediate_size = 1536;
  model.vocab_size = 49152;
  model.context_tokens = 8192;
  return model;
}

KvPlan Plan(const ModelConfig& model, const KvPlanOptions& options) {
  absl::StatusOr<KvPlan> plan = PlanKv(model, options);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : KvPlan{};
}

TEST(KvSizeTest, WorkedExampleFromTheIssue) {
  EXPECT_EQ(*KvFormulaBytes(80, 64, 4096, 128, 2), int64_t{10'737'418'240});
  EXPECT_EQ(*KvFormulaBytes(80, 8, 4096, 128, 2), int64_t{1'342'177'280});
  EXPECT_EQ(*KvFormulaBytes(80, 1, 4096, 128, 2), int64_t{167'772'160});

  const struct {
    int64_t kv_heads;
    int64_t bytes;
  } cases[] = {{64, 10'737'418'240}, {8, 1'342'177'280}, {1, 167'772'160}};
  for (const auto& c : cases) {
    KvPlan plan = Plan(Llama70bShape(c.kv_heads), {.context_tokens = 4096, .dtype = DType::kBF16});
    EXPECT_EQ(plan.kv_bytes_per_sequence_formula, c.bytes) << c.kv_heads;
    // 4096 is a whole number of blocks and bf16 has no scales.
    EXPECT_EQ(plan.kv_bytes_per_sequence, c.bytes) << c.kv_heads;
    EXPECT_EQ(plan.kv_bytes_per_token, c.bytes / 4096) << c.kv_heads;
    EXPECT_EQ(plan.kv_scale_bytes_per_token, 0);
    EXPECT_EQ(plan.kv_bytes_per_sequence_per_rank, c.bytes);
  }
}

TEST(KvSizeTest, BytesPerElementFollowTheDType) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3, DType::kFp8E5M2}) {
    KvPlan plan = Plan(Llama70bShape(8), {.context_tokens = 4096, .dtype = dtype});
    EXPECT_EQ(plan.kv_bytes_per_token, 80 * 8 * 2 * 128 * DTypeSize(dtype));
    EXPECT_EQ(plan.kv_bytes_per_sequence_formula,
              80 * 8 * 2 * int64_t{4096} * 128 * DTypeSize(dtype));
  }
}

TEST(KvSizeTest, Fp8ScalesAreOneF32PerTokenPerKvHeadForKAndV) {
  ModelConfig model = SmolLm2Shape();  // head_dim 64: overhead 4/64 = 6.25%
  for (DType dtype : {DType::kFp8E4M3, DType::kFp8E5M2}) {
    KvPlan plan = Plan(model, {.context_tokens = 8192, .dtype = dtype});
    EXPECT_EQ(plan.kv_bytes_per_token, 30 * 3 * 2 * 64 * 1);
    EXPECT_EQ(plan.kv_scale_bytes_per_token, 30 * 3 * 2 * 4);
    EXPECT_EQ(plan.kv_scale_bytes_per_token * 16, plan.kv_bytes_per_token);  // exactly 6.25%
    EXPECT_EQ(plan.kv_bytes_per_sequence_formula, int64_t{30} * 3 * 2 * 8192 * 64);
    EXPECT_EQ(plan.kv_bytes_per_sequence, int64_t{30} * 3 * 2 * 8192 * (64 + 4));
    EXPECT_EQ(plan.kv_bytes_per_sequence * 16, plan.kv_bytes_per_sequence_formula * 17);
  }
  EXPECT_EQ(*KvScaleBytes(80, 8, 4096, DType::kFp8E4M3), int64_t{80} * 8 * 2 * 4096 * 4);
  EXPECT_EQ(*KvScaleBytes(80, 8, 4096, DType::kBF16), 0);
  EXPECT_EQ(*KvScaleBytes(80, 8, 4096, DType::kF32), 0);
}

TEST(KvSizeTest, PaddingAllocatesWholeBlocks) {
  EXPECT_EQ(*PaddedTokens(0, 16), 0);
  EXPECT_EQ(*PaddedTokens(1, 16), 16);
  EXPECT_EQ(*PaddedTokens(16, 16), 16);
  EXPECT_EQ(*PaddedTokens(17, 16), 32);
  EXPECT_EQ(*PaddedTokens(17, 1), 17);
  EXPECT_EQ(*PaddedTokens(100, 32), 128);
  EXPECT_FALSE(PaddedTokens(-1, 16).ok());
  EXPECT_FALSE(PaddedTokens(17, 0).ok());

  ModelConfig model = Llama70bShape(8);
  KvPlan plan = Plan(model, {.context_tokens = 17, .dtype = DType::kBF16});
  const int64_t per_token = 80 * 8 * 2 * 128 * 2;
  EXPECT_EQ(plan.tokens_held, 17);
  EXPECT_EQ(plan.slots_per_sequence, 32);
  EXPECT_EQ(plan.blocks_per_sequence, 2);
  EXPECT_EQ(plan.kv_bytes_per_sequence_formula, 17 * per_token);
  EXPECT_EQ(plan.kv_bytes_per_sequence, 32 * per_token);
  EXPECT_EQ(plan.kv_bytes_per_block, 16 * per_token);

  plan = Plan(model, {.context_tokens = 17, .dtype = DType::kBF16, .block_size = 32});
  EXPECT_EQ(plan.slots_per_sequence, 32);
  EXPECT_EQ(plan.blocks_per_sequence, 1);
}

TEST(KvSizeTest, BoundedPoliciesCapTheTokensHeld) {
  ModelConfig model = Llama70bShape(8);
  const int64_t per_token = 80 * 8 * 2 * 128 * 2;
  KvPlan plan = Plan(model, {.context_tokens = 100000, .policy = KvPolicy::Streaming(4, 252)});
  EXPECT_EQ(plan.tokens_held, 256);
  // The bound plus one step of up to a block of new tokens before eviction.
  EXPECT_EQ(plan.slots_per_sequence, 272);
  EXPECT_EQ(plan.kv_bytes_per_sequence, 272 * per_token);

  plan = Plan(model, {.context_tokens = 100000, .policy = KvPolicy::H2o(100, 30)});
  EXPECT_EQ(plan.tokens_held, 130);
  EXPECT_EQ(plan.slots_per_sequence, 160);  // PaddedTokens(130 + 15)
  EXPECT_EQ(plan.kv_bytes_per_sequence_formula, 130 * per_token);

  plan = Plan(model, {.context_tokens = 100000, .policy = KvPolicy::Window(1000)});
  EXPECT_EQ(plan.tokens_held, 1000);
  EXPECT_EQ(plan.slots_per_sequence, 1024);  // PaddedTokens(1000 + 15)

  // A sequence shorter than the bound keeps all of its tokens.
  plan = Plan(model, {.context_tokens = 100, .policy = KvPolicy::Streaming(4, 252)});
  EXPECT_EQ(plan.tokens_held, 100);
  EXPECT_EQ(plan.slots_per_sequence, 112);

  plan = Plan(model, {.context_tokens = 100000, .policy = KvPolicy::Full()});
  EXPECT_EQ(plan.tokens_held, 100000);
}

TEST(KvSizeTest, TensorParallelSplitsKvHeads) {
  ModelConfig model = SmolLm2Shape();
  KvPlan one = Plan(model, {.context_tokens = 8192, .tp = 1});
  KvPlan three = Plan(model, {.context_tokens = 8192, .tp = 3});
  EXPECT_EQ(three.num_kv_shards, 3);
  EXPECT_EQ(three.kv_heads_per_rank, 1);
  EXPECT_EQ(three.kv_replicas, 1);
  EXPECT_EQ(three.kv_bytes_per_sequence, one.kv_bytes_per_sequence);
  EXPECT_EQ(three.kv_bytes_per_sequence_per_rank * 3, one.kv_bytes_per_sequence);
  EXPECT_EQ(three.kv_bytes_per_sequence_per_rank, int64_t{30} * 1 * 2 * 8192 * 64 * 2);
}

TEST(KvSizeTest, TensorParallelReplicatesKvHeadsBeyondTheirCount) {
  // llama-2-70b at tp 16: 8 KV heads, each on 2 ranks; per rank total/8.
  ModelConfig model = Llama70bShape(8);
  KvPlan plan = Plan(model, {.context_tokens = 4096, .tp = 16});
  EXPECT_EQ(plan.num_kv_shards, 8);
  EXPECT_EQ(plan.kv_heads_per_rank, 1);
  EXPECT_EQ(plan.kv_replicas, 2);
  EXPECT_EQ(plan.kv_bytes_per_sequence, int64_t{1'342'177'280});
  EXPECT_EQ(plan.kv_bytes_per_sequence_per_rank, int64_t{1'342'177'280} / 8);

  plan = Plan(Llama70bShape(64), {.context_tokens = 4096, .tp = 16});
  EXPECT_EQ(plan.kv_bytes_per_sequence_per_rank, int64_t{10'737'418'240} / 16);
  plan = Plan(Llama70bShape(1), {.context_tokens = 4096, .tp = 8});
  EXPECT_EQ(plan.kv_replicas, 8);
  EXPECT_EQ(plan.kv_bytes_per_sequence_per_rank, int64_t{167'772'160});
}

void ExpectTpRefused(const ModelConfig& model, int64_t tp, const std::string& rule) {
  absl::Status status = ValidateTensorParallel(model, tp);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "tp " << tp;
  EXPECT_THAT(status.message(), HasSubstr("--tp " + std::to_string(tp)));
  EXPECT_THAT(status.message(), HasSubstr(rule));
  EXPECT_EQ(PlanKv(model, {.context_tokens = 16, .tp = tp}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KvSizeTest, TensorParallelRules) {
  ModelConfig smol = SmolLm2Shape();
  EXPECT_TRUE(ValidateTensorParallel(smol, 1).ok());
  EXPECT_TRUE(ValidateTensorParallel(smol, 3).ok());
  ExpectTpRefused(smol, 6, "query heads (9)");
  ExpectTpRefused(smol, 2, "query heads (9)");
  ExpectTpRefused(smol, 9, "MLP intermediate size (1536)");  // 48 blocks of 32
  ExpectTpRefused(smol, 0, "positive");
  ExpectTpRefused(smol, -3, "positive");

  ModelConfig no_mlp = smol;  // the vocabulary rule alone refuses tp 9 too
  no_mlp.intermediate_size = 0;
  ExpectTpRefused(no_mlp, 9, "vocabulary (49152)");
  no_mlp.vocab_size = 0;  // unknown: only the head rules apply
  EXPECT_TRUE(ValidateTensorParallel(no_mlp, 9).ok());

  ModelConfig odd_mlp = smol;  // not whole 32-element blocks: only tp 1 passes
  odd_mlp.intermediate_size = 1000;
  odd_mlp.vocab_size = 0;
  EXPECT_TRUE(ValidateTensorParallel(odd_mlp, 1).ok());
  ExpectTpRefused(odd_mlp, 3, "MLP intermediate size (1000)");

  ModelConfig llama = Llama70bShape(8);
  for (int64_t tp : {1, 2, 4, 8, 16, 32, 64}) {
    EXPECT_TRUE(ValidateTensorParallel(llama, tp).ok()) << tp;
  }
  ExpectTpRefused(llama, 3, "query heads (64)");
  ModelConfig six = llama;  // 64 query heads, 16 kv heads: tp 32 ok, tp 64 ok
  six.num_kv_heads = 16;
  EXPECT_TRUE(ValidateTensorParallel(six, 32).ok());
  six.num_query_heads = 48;
  six.num_kv_heads = 12;
  ExpectTpRefused(six, 8, "KV heads (12)");
}

TEST(KvSizeTest, MaxSequencesIsTheFloorOfMemoryOverPerRankBytes) {
  KvPlan plan = Plan(Llama70bShape(8), {.context_tokens = 4096});
  EXPECT_EQ(MaxSequences(plan, 80 * kGiB), 64);  // 1.25 GiB per sequence
  EXPECT_EQ(MaxSequences(plan, 80 * kGiB - 1), 63);
  EXPECT_EQ(MaxSequences(plan, plan.kv_bytes_per_sequence - 1), 0);
  EXPECT_EQ(MaxSequences(plan, 0), 0);
  plan = Plan(Llama70bShape(8), {.context_tokens = 4096, .tp = 8});
  EXPECT_EQ(MaxSequences(plan, 80 * kGiB), 512);
  plan = Plan(Llama70bShape(64), {.context_tokens = 4096});
  EXPECT_EQ(MaxSequences(plan, 80 * kGiB), 8);
}

TEST(KvSizeTest, RejectsImpossibleShapes) {
  ModelConfig model = Llama70bShape(5);
  absl::Status status = PlanKv(model, {.context_tokens = 4096}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("num_kv_heads=5 must divide num_query_heads=64"));

  model = Llama70bShape(128);
  EXPECT_THAT(PlanKv(model, {.context_tokens = 4096}).status().message(),
              HasSubstr("num_kv_heads=128"));

  for (auto field : {&ModelConfig::num_layers, &ModelConfig::num_query_heads,
                     &ModelConfig::num_kv_heads, &ModelConfig::head_dim}) {
    model = Llama70bShape(8);
    model.*field = 0;
    status = PlanKv(model, {.context_tokens = 4096}).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("must be positive"));
  }

  model = Llama70bShape(8);
  EXPECT_THAT(PlanKv(model, {.context_tokens = 0}).status().message(), HasSubstr("--ctx 0"));
  EXPECT_THAT(PlanKv(model, {.context_tokens = 16, .block_size = 0}).status().message(),
              HasSubstr("--block-size 0"));
}

TEST(KvSizeTest, OverflowIsAnErrorNotAWrap) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_FALSE(KvFormulaBytes(int64_t{1} << 40, 8, int64_t{1} << 20, 128, 2).ok());
  EXPECT_FALSE(KvFormulaBytes(kMax, 1, 1, 1, 1).ok());  // x 2 overflows
  EXPECT_EQ(*KvFormulaBytes(kMax / 2, 1, 1, 1, 1), kMax / 2 * 2);
  EXPECT_FALSE(KvFormulaBytes(-1, 8, 16, 128, 2).ok());
  EXPECT_FALSE(KvScaleBytes(int64_t{1} << 40, 8, int64_t{1} << 20, DType::kFp8E4M3).ok());
  EXPECT_FALSE(PaddedTokens(kMax, 16).ok());

  ModelConfig model = Llama70bShape(8);
  model.num_layers = int64_t{1} << 40;
  absl::Status status = PlanKv(model, {.context_tokens = int64_t{1} << 20}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("overflows 64 bits"));
}

}  // namespace
}  // namespace gqa
