// The engine's device code path (weights copied into backend memory, each
// step's arrays uploaded, activations and logits in backend memory) on the
// CPU, through DeviceLikeBackend: it must give the plain CPU run's results
// bit for bit, under every KV policy, and never hand an op a host pointer.
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "core/half.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cpu/dot_kernels.h"
#include "worker/engine/offline_generator.h"
#include "worker/engine/resident_weights.h"
#include "worker/engine/testing/device_like_backend.h"
#include "worker/engine/testing/tiny_engine.h"

namespace gqa {
namespace {

std::vector<int32_t> TestTokens(int n, uint32_t state) {
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) {
    state = state * 1103515245u + 12345u;
    tokens[i] = static_cast<int32_t>((state >> 16) % 97);
  }
  return tokens;
}

TinyEngine Engine(bool device_like, int64_t q_heads = 4, int64_t kv_heads = 2) {
  return MakeTinyEngine({.num_query_heads = q_heads, .num_kv_heads = kv_heads, .seed = 7,
                         .device_like = device_like});
}

struct ScoreCase {
  const char* policy;
  int64_t chunk;
  int64_t q_heads, kv_heads;
};

class DevicePathScoreTest : public ::testing::TestWithParam<ScoreCase> {};

TEST_P(DevicePathScoreTest, ScoresEqualTheCpuBackendExactly) {
  const ScoreCase c = GetParam();
  const KvPolicy policy = *ParseKvPolicy(c.policy);
  const std::vector<int32_t> tokens = TestTokens(40, 99);
  std::vector<double> got[2];
  for (bool device_like : {false, true}) {
    TinyEngine e = Engine(device_like, c.q_heads, c.kv_heads);
    EXPECT_EQ(e.model->resident_weight_bytes() > 0, device_like);
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    absl::StatusOr<std::vector<double>> scores = generator.ScoreTokens(tokens, c.chunk, policy);
    ASSERT_TRUE(scores.ok()) << c.policy << " device_like=" << device_like << ": "
                             << scores.status();
    got[device_like] = *scores;
  }
  ASSERT_EQ(got[0].size(), tokens.size() - 1);
  EXPECT_EQ(got[0], got[1]) << c.policy;
}

INSTANTIATE_TEST_SUITE_P(
    Policies, DevicePathScoreTest,
    ::testing::Values(ScoreCase{"full", 7, 4, 2}, ScoreCase{"full", 1, 4, 1},
                      ScoreCase{"full", 40, 4, 4}, ScoreCase{"streaming:2+6", 1, 4, 2},
                      ScoreCase{"streaming:2+6", 4, 4, 2}, ScoreCase{"window:5", 1, 4, 2},
                      ScoreCase{"h2o:3+4", 1, 4, 2}, ScoreCase{"h2o:4+3", 1, 6, 3}),
    [](const ::testing::TestParamInfo<ScoreCase>& info) {
      std::string name = info.param.policy;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name + "_chunk" + std::to_string(info.param.chunk) + "_q" +
             std::to_string(info.param.q_heads) + "kv" + std::to_string(info.param.kv_heads);
    });

TEST(DevicePathTest, GenerationWithPrefixReuseEqualsTheCpuBackend) {
  std::vector<std::vector<int32_t>> outputs[2];
  std::vector<int64_t> reused[2];
  for (bool device_like : {false, true}) {
    TinyEngine e = Engine(device_like);
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    const std::vector<int32_t> prefix = TestTokens(13, 5);
    for (int i = 0; i < 3; ++i) {
      OfflineRequest request;
      request.prompt_ids = prefix;
      const std::vector<int32_t> tail = TestTokens(3 + i, 40 + i);
      request.prompt_ids.insert(request.prompt_ids.end(), tail.begin(), tail.end());
      request.max_new_tokens = 12;
      request.prefill_chunk_tokens = 5;
      request.num_top_logprobs = 3;
      absl::StatusOr<OfflineResult> result =
          generator.Generate(request, [](const SampledToken&) { return true; });
      ASSERT_TRUE(result.ok()) << result.status();
      outputs[device_like].push_back(result->output_ids);
      reused[device_like].push_back(result->reused_prefix_tokens);
    }
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(reused[0], reused[1]);
  EXPECT_GT(reused[0][1], 0);  // the later requests reuse the shared prefix
}

// Decode steps under DecodeGraphs pad the block table to a power-of-two
// width; on the CPU (no capture) kOn runs as kOff, and the padded eager twin
// gives the same tokens and top logprobs bit for bit.
TEST(DevicePathTest, PaddedDecodeStepsEqualUnpaddedOnesExactly) {
  std::vector<std::vector<std::pair<int32_t, float>>> tops[3];
  std::vector<int32_t> ids[3];
  const DecodeGraphs modes[3] = {DecodeGraphs::kOff, DecodeGraphs::kOn, DecodeGraphs::kPaddedEager};
  for (int m = 0; m < 3; ++m) {
    TinyEngine e = MakeTinyEngine({.num_query_heads = 4, .num_kv_heads = 2, .seed = 7,
                                   .device_like = true,
                                   .model_options = {.decode_graphs = modes[m]}});
    OfflineGenerator generator(e.model.get(), e.storage.get(), Env::Default());
    OfflineRequest request;
    request.prompt_ids = TestTokens(9, 3);
    request.max_new_tokens = 40;  // past 8 blocks of 4: the padded width grows to 16
    request.sampling.temperature = 0;
    request.num_top_logprobs = 4;
    absl::StatusOr<OfflineResult> result = generator.Generate(
        request, [&](const SampledToken& token) {
          tops[m].push_back(token.top_logprobs);
          return true;
        });
    ASSERT_TRUE(result.ok()) << result.status();
    ids[m] = result->output_ids;
    EXPECT_EQ(e.model->graph_captures(), 0);  // the CPU has no capture
  }
  ASSERT_EQ(ids[0].size(), 40u);
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ(tops[1], tops[0]);
  EXPECT_EQ(tops[2], tops[0]);
}

// Two sequences by hand (block size 4): a prefill step of both, then one
// decode step of both; the padded decode step (DecodeGraphs::kPaddedEager,
// block table 2 -> 8 columns) gives the unpadded logits bit for bit.
TEST(DevicePathTest, PaddedTwoSequenceDecodeStepEqualsTheUnpaddedOne) {
  std::vector<float> logits[2];
  for (int padded = 0; padded < 2; ++padded) {
    TinyEngine e = MakeTinyEngine(
        {.num_query_heads = 4, .num_kv_heads = 2, .seed = 7, .device_like = true,
         .model_options = {.decode_graphs = padded ? DecodeGraphs::kPaddedEager
                                                   : DecodeGraphs::kOff}});
    ForwardBatch prefill;  // seq 0: positions 0-4 in blocks 0, 1; seq 1: 0-2 in block 2
    prefill.token_ids = {5, 17, 3, 44, 9, 60, 2, 71};
    prefill.positions = {0, 1, 2, 3, 4, 0, 1, 2};
    prefill.seq_idx = {0, 0, 0, 0, 0, 1, 1, 1};
    prefill.context_lens = {1, 2, 3, 4, 5, 1, 2, 3};
    prefill.slot_mapping = {0, 1, 2, 3, 4, 8, 9, 10};
    prefill.block_tables = {0, 1, 2, 0};
    prefill.num_seqs = 2;
    prefill.max_blocks_per_seq = 2;
    prefill.logit_token_idx = {4, 7};
    std::vector<float> ignored;
    ASSERT_TRUE(e.model->Forward(prefill, e.storage->layer_views(), ignored).ok());
    ForwardBatch decode;
    decode.token_ids = {12, 30};
    decode.positions = {5, 3};
    decode.seq_idx = {0, 1};
    decode.context_lens = {6, 4};
    decode.slot_mapping = {5, 11};
    decode.block_tables = {0, 1, 2, 0};
    decode.num_seqs = 2;
    decode.max_blocks_per_seq = 2;
    decode.logit_token_idx = {0, 1};
    ASSERT_TRUE(e.model->Forward(decode, e.storage->layer_views(), logits[padded]).ok());
  }
  ASSERT_EQ(logits[0].size(), 2u * 97);
  EXPECT_EQ(logits[1], logits[0]);
}

TEST(DevicePathTest, DeviceLikeBackendRefusesHostPointers) {
  std::unique_ptr<Backend> backend = MakeDeviceLikeBackend(MakeCpuBackend({}));
  EXPECT_FALSE(backend->memory_is_host());
  std::vector<float> host(8, 1.0f);
  absl::StatusOr<std::unique_ptr<BackendBuffer>> buffer = backend->Allocate(8 * 4);
  ASSERT_TRUE(buffer.ok());
  float* device = static_cast<float*>((*buffer)->data());
  const absl::Status refused = backend->Add(device, host.data(), 8);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  ASSERT_TRUE(backend->CopyFromHost(device, host.data(), 8 * 4).ok());
  ASSERT_TRUE(backend->Add(device, device, 8).ok());
  std::vector<float> back(8);
  ASSERT_TRUE(backend->CopyToHost(back.data(), device, 8 * 4).ok());
  EXPECT_EQ(back, std::vector<float>(8, 2.0f));
}

// A Q8_0 matrix [2, 64] with distinct values, and its rows dequantized.
struct Q8Matrix {
  std::vector<uint8_t> bytes;
  std::vector<float> dequantized;
  WeightView view;
};

Q8Matrix MakeQ8() {
  Q8Matrix m;
  const int64_t rows = 2, cols = 64;
  m.bytes.resize(rows * RowBytes(WeightFormat::kQ8_0, cols));
  for (size_t block = 0; block < m.bytes.size() / 34; ++block) {
    const uint16_t scale = FloatToHalf(0.01f * static_cast<float>(block + 1));
    std::memcpy(m.bytes.data() + block * 34, &scale, 2);
    for (int i = 0; i < 32; ++i) m.bytes[block * 34 + 2 + i] = static_cast<uint8_t>(i * 7 - 100);
  }
  m.view = {WeightFormat::kQ8_0, m.bytes.data(), rows, cols, 0};
  m.dequantized.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    cpu::DequantizeRow(WeightFormat::kQ8_0, m.view.row(r), cols, m.dequantized.data() + r * cols);
  }
  return m;
}

ModelWeights OneMatrixModel(const WeightView& w, const std::vector<float>& norm) {
  ModelWeights weights;
  weights.token_embedding = w;
  weights.lm_head = w;  // tied: one copy
  weights.final_norm = norm.data();
  return weights;
}

TEST(ResidentWeightsTest, QuantizedWeightsBecomeBf16OrF32AndTiedOnesShareACopy) {
  const Q8Matrix m = MakeQ8();
  const std::vector<float> norm(64, 0.5f);
  std::unique_ptr<Backend> backend = MakeDeviceLikeBackend(MakeCpuBackend({}));
  for (WeightFormat as : {WeightFormat::kBF16, WeightFormat::kF32}) {
    absl::StatusOr<ResidentWeights> resident =
        ResidentWeights::Create(OneMatrixModel(m.view, norm), *backend, {.quantized_as = as});
    ASSERT_TRUE(resident.ok()) << resident.status();
    const WeightView& w = resident->views().token_embedding;
    EXPECT_EQ(w.format, as);
    EXPECT_EQ(resident->views().lm_head.data, w.data);
    EXPECT_EQ(resident->bytes(), 2 * RowBytes(as, 64) + 64 * 4);
    std::vector<uint8_t> copy(2 * RowBytes(as, 64));
    ASSERT_TRUE(backend->CopyToHost(copy.data(), w.data, static_cast<int64_t>(copy.size())).ok());
    for (size_t i = 0; i < m.dequantized.size(); ++i) {
      float value = 0;
      if (as == WeightFormat::kF32) {
        std::memcpy(&value, copy.data() + 4 * i, 4);
        EXPECT_EQ(value, m.dequantized[i]) << i;
      } else {
        uint16_t bits = 0;
        std::memcpy(&bits, copy.data() + 2 * i, 2);
        EXPECT_EQ(bits, FloatToBf16(m.dequantized[i])) << i;
      }
    }
  }
  EXPECT_EQ(ResidentWeights::Create(OneMatrixModel(m.view, norm), *backend,
                                    {.quantized_as = WeightFormat::kQ4_0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ResidentWeightsTest, HostMemoryBackendsKeepTheFileViews) {
  const Q8Matrix m = MakeQ8();
  const std::vector<float> norm(64, 0.5f);
  std::unique_ptr<Backend> cpu = MakeCpuBackend({});
  absl::StatusOr<ResidentWeights> resident =
      ResidentWeights::Create(OneMatrixModel(m.view, norm), *cpu);
  ASSERT_TRUE(resident.ok()) << resident.status();
  EXPECT_EQ(resident->bytes(), 0);
  EXPECT_EQ(resident->views().token_embedding.data, m.bytes.data());
  EXPECT_EQ(resident->views().token_embedding.format, WeightFormat::kQ8_0);
  EXPECT_EQ(resident->views().final_norm, norm.data());
}

}  // namespace
}  // namespace gqa
