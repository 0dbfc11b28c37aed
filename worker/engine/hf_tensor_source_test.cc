// Tests of the Hugging Face TensorSource: the tiny checkpoints written by
// bench/reference/hf_reference_forward.py run through Model::Forward on the
// CPU backend and must match that script's float64 numpy logits; the same
// weights in GGUF's permuted Q/K layout, or split into shards, give the same
// logits; and every checkpoint-level rejection names the file and tensor.
#include "worker/engine/hf_tensor_source.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "core/half.h"
#include "core/safetensors/safetensors_checkpoint.h"
#include "core/safetensors/safetensors_writer.h"
#include "core/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/model.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// Max |engine - numpy| over all logits. Measured: <= 2e-6 (F32 sums
// against float64); 1e-4 leaves room for summation order, not for a bug (a
// wrong RoPE layout or head mapping moves logits by ~1).
constexpr double kLogitTolerance = 1e-4;

std::string TestdataDir(const std::string& model) {
  return std::string(GQA_SAFETENSORS_TESTDATA_DIR) + "/" + model;
}

struct Golden {
  std::vector<int32_t> tokens;
  std::vector<std::vector<double>> logits;  // [tokens, vocab]
};

Golden ReadGolden(const std::string& model) {
  absl::StatusOr<std::string> text = Env::Default()->ReadFile(TestdataDir(model) + "/golden.json");
  EXPECT_TRUE(text.ok()) << text.status();
  const nlohmann::json json = nlohmann::json::parse(text.value_or("{}"), nullptr, false);
  Golden golden;
  if (json.is_discarded() || !json.contains("tokens")) return golden;
  golden.tokens = json["tokens"].get<std::vector<int32_t>>();
  golden.logits = json["logits"].get<std::vector<std::vector<double>>>();
  return golden;
}

// The logits of every position of `tokens`, from one prefill step.
absl::StatusOr<std::vector<float>> EngineLogits(std::unique_ptr<TensorSource> source,
                                                const std::vector<int32_t>& tokens) {
  auto backend = MakeCpuBackend({.num_threads = 2});
  const ModelConfig config = source->config();
  ASSIGN_OR_RETURN(const ShardPlan plan, ShardPlan::Make(config, 1, 0));
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                   Model::Create(std::move(source), plan, backend.get()));
  constexpr int64_t kBlock = 4;
  ASSIGN_OR_RETURN(
      std::unique_ptr<KvCacheStorage> storage,
      KvCacheStorage::Create(backend.get(), config, plan, {DType::kF32, kBlock, 1 << 20}));
  const int32_t n = static_cast<int32_t>(tokens.size());
  ForwardBatch batch;
  batch.token_ids = tokens;
  batch.num_seqs = 1;
  batch.max_blocks_per_seq = (n + kBlock - 1) / kBlock;
  for (int32_t b = 0; b < batch.max_blocks_per_seq; ++b) batch.block_tables.push_back(b);
  for (int32_t i = 0; i < n; ++i) {
    batch.positions.push_back(i);
    batch.seq_idx.push_back(0);
    batch.context_lens.push_back(i + 1);
    batch.slot_mapping.push_back(i);  // blocks 0, 1, ... in order
    batch.logit_token_idx.push_back(i);
  }
  std::vector<float> logits;
  RETURN_IF_ERROR(model->Forward(batch, storage->layer_views(), logits));
  return logits;
}

double MaxAbsDiff(const std::vector<float>& logits, const Golden& golden) {
  double max_diff = 0;
  const size_t vocab = golden.logits.at(0).size();
  EXPECT_EQ(logits.size(), golden.logits.size() * vocab);
  for (size_t t = 0; t < golden.logits.size(); ++t) {
    for (size_t v = 0; v < vocab && t * vocab + v < logits.size(); ++v) {
      max_diff = std::max(max_diff, std::abs(logits[t * vocab + v] - golden.logits[t][v]));
    }
  }
  return max_diff;
}

std::vector<float> ToFloats(const RawTensor& t) {
  const size_t n = t.bytes.size() / (t.format == WeightFormat::kF32 ? 4 : 2);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t.format == WeightFormat::kF32) {
      std::memcpy(&out[i], t.bytes.data() + 4 * i, 4);
    } else {
      const uint16_t bits = static_cast<uint16_t>(t.bytes[2 * i] | t.bytes[2 * i + 1] << 8);
      out[i] = t.format == WeightFormat::kF16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
    }
  }
  return out;
}

// The engine names a Llama model of `c` uses.
std::vector<std::string> EngineNames(const ModelConfig& c) {
  std::vector<std::string> names = {"token_embd.weight", "output_norm.weight"};
  if (!c.tied_embeddings) names.push_back("output.weight");
  for (int64_t l = 0; l < c.num_layers; ++l) {
    for (const char* part : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                             "ffn_gate", "ffn_up", "ffn_down"}) {
      names.push_back(absl::StrCat("blk.", l, ".", part, ".weight"));
    }
  }
  return names;
}

// The same weights as `hf` with Q/K rows permuted the way llama.cpp's
// convert_hf_to_gguf.py does (per head, row 2i <- i, row 2i+1 <- i + d/2),
// for interleaved-pair RoPE.
std::unique_ptr<TensorSource> AsGgufLayout(const TensorSource& hf) {
  const ModelConfig& c = hf.config();
  auto out = std::make_unique<MemoryTensorSource>(c, RopeLayout::kInterleavedPairs);
  for (const std::string& name : EngineNames(c)) {
    const RawTensor t = hf.Find(name).value();
    std::vector<float> values = ToFloats(t);
    if (name.find("attn_q") != std::string::npos || name.find("attn_k") != std::string::npos) {
      const int64_t d = c.head_dim, cols = t.shape[1];
      std::vector<float> permuted(values.size());
      for (int64_t head = 0; head < t.shape[0] / d; ++head) {
        for (int64_t i = 0; i < d / 2; ++i) {
          for (int64_t pair = 0; pair < 2; ++pair) {
            const float* from = &values[(head * d + i + pair * d / 2) * cols];
            std::copy_n(from, cols, &permuted[(head * d + 2 * i + pair) * cols]);
          }
        }
      }
      values = std::move(permuted);
    }
    out->Put(name, t.shape, std::move(values));
  }
  return out;
}

class HfGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfGoldenTest, LogitsMatchNumpyReference) {
  const Golden golden = ReadGolden(GetParam());
  ASSERT_FALSE(golden.tokens.empty());
  auto source = OpenHfTensorSource(Env::Default(), TestdataDir(GetParam()));
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->rope_layout(), RopeLayout::kHalfSplit);
  auto logits = EngineLogits(std::move(*source), golden.tokens);
  ASSERT_TRUE(logits.ok()) << logits.status();
  const double diff = MaxAbsDiff(*logits, golden);
  std::printf("%s: max |engine - numpy| = %.3g\n", GetParam().c_str(), diff);
  EXPECT_LE(diff, kLogitTolerance);
}

TEST_P(HfGoldenTest, GgufPermutedLayoutGivesTheSameLogits) {
  const Golden golden = ReadGolden(GetParam());
  auto source = OpenHfTensorSource(Env::Default(), TestdataDir(GetParam()));
  ASSERT_TRUE(source.ok()) << source.status();
  auto logits = EngineLogits(AsGgufLayout(**source), golden.tokens);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_LE(MaxAbsDiff(*logits, golden), kLogitTolerance);
}

TEST_P(HfGoldenTest, WrongRopeLayoutIsCaught) {  // the test can fail
  const Golden golden = ReadGolden(GetParam());
  auto source = OpenHfTensorSource(Env::Default(), TestdataDir(GetParam()));
  ASSERT_TRUE(source.ok()) << source.status();
  auto unpermuted = AsGgufLayout(**source);
  for (const std::string& name : EngineNames((*source)->config())) {
    const RawTensor t = (*source)->Find(name).value();
    static_cast<MemoryTensorSource&>(*unpermuted).Put(name, t.shape, ToFloats(t));
  }
  auto logits = EngineLogits(std::move(unpermuted), golden.tokens);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_GT(MaxAbsDiff(*logits, golden), 100 * kLogitTolerance);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, HfGoldenTest,
                         ::testing::Values("tiny_gqa", "tiny_tied_llama3"));

// --- Checkpoint-level validation, on edited copies of tiny_gqa in memory.

struct TensorCopy {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<int64_t> shape;
  std::string data;
};

class HfCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = TestdataDir("tiny_gqa");
    config_json_ = Env::Default()->ReadFile(dir + "/config.json").value();
    auto checkpoint = OpenSafetensorsCheckpoint(Env::Default(), dir);
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    for (const SafetensorsTensor& t : (*checkpoint)->files()[0]->file().tensors()) {
      tensors_.push_back(
          {t.name, t.dtype, t.shape,
           std::string(reinterpret_cast<const char*>(t.data.data()), t.data.size())});
    }
  }

  // Writes `tensors` to `dir` as model.safetensors, or as `num_shards`
  // shards with an index, beside config_json_.
  void Write(const std::string& dir, const std::vector<TensorCopy>& tensors, int num_shards = 1) {
    ASSERT_TRUE(env_->WriteFileAtomically(dir + "/config.json", config_json_).ok());
    std::vector<SafetensorsWriter> writers(num_shards);
    nlohmann::json weight_map;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorCopy& t = tensors[i];
      ASSERT_TRUE(writers[i % num_shards].AddTensor(t.name, t.dtype, t.shape, t.data).ok());
      weight_map[t.name] = absl::StrCat("model-", i % num_shards, ".safetensors");
    }
    if (num_shards == 1) {
      ASSERT_TRUE(env_->WriteFileAtomically(dir + "/model.safetensors", writers[0].Finish()).ok());
      return;
    }
    for (int s = 0; s < num_shards; ++s) {
      const std::string path = absl::StrCat(dir, "/model-", s, ".safetensors");
      ASSERT_TRUE(env_->WriteFileAtomically(path, writers[s].Finish()).ok());
    }
    const nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
    ASSERT_TRUE(
        env_->WriteFileAtomically(dir + "/model.safetensors.index.json", index.dump()).ok());
  }

  // Opens an edited copy of tiny_gqa.
  absl::Status OpenEdited(const std::function<void(std::vector<TensorCopy>&)>& edit) {
    std::vector<TensorCopy> tensors = tensors_;
    edit(tensors);
    Write("/ck", tensors);
    return OpenHfTensorSource(env_.get(), "/ck").status();
  }
  TensorCopy& Named(std::vector<TensorCopy>& tensors, const std::string& name) {
    for (TensorCopy& t : tensors) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "no " << name;
    return tensors.front();
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
  std::string config_json_;
  std::vector<TensorCopy> tensors_;
};

TEST_F(HfCheckpointTest, ShardedCopyGivesIdenticalLogits) {
  Write("/sharded", tensors_, 3);
  auto sharded = OpenHfTensorSource(env_.get(), "/sharded");
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  auto single = OpenHfTensorSource(Env::Default(), TestdataDir("tiny_gqa"));
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_NE((*sharded)->fingerprint(), (*single)->fingerprint());
  const std::vector<int32_t> tokens = {4, 8, 15, 16, 23, 42};
  auto a = EngineLogits(std::move(*sharded), tokens);
  auto b = EngineLogits(std::move(*single), tokens);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST_F(HfCheckpointTest, FingerprintIsStableAndFollowsConfig) {
  Write("/a", tensors_);
  auto first = OpenHfTensorSource(env_.get(), "/a");
  auto again = OpenHfTensorSource(env_.get(), "/a");
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ((*first)->fingerprint().size(), 64u);
  EXPECT_EQ((*first)->fingerprint(), (*again)->fingerprint());
  config_json_.insert(config_json_.rfind('}'), ", \"pad_token_id\": 0");
  Write("/b", tensors_);
  auto changed = OpenHfTensorSource(env_.get(), "/b");
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_NE((*first)->fingerprint(), (*changed)->fingerprint());
}

TEST_F(HfCheckpointTest, NormsBecomeF32AndMatricesKeepTheirFormat) {
  auto source = OpenHfTensorSource(Env::Default(), TestdataDir("tiny_gqa"));
  ASSERT_TRUE(source.ok()) << source.status();
  const RawTensor attn_norm = (*source)->Find("blk.0.attn_norm.weight").value();  // BF16 on disk
  EXPECT_EQ(attn_norm.format, WeightFormat::kF32);
  EXPECT_EQ(attn_norm.name, "model.layers.0.input_layernorm.weight");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(attn_norm.bytes.data()) % 4, 0u);
  RawTensor stored = attn_norm;
  stored.format = WeightFormat::kBF16;
  stored.bytes = absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(Named(tensors_, stored.name).data.data()), 80);
  EXPECT_EQ(ToFloats(attn_norm), ToFloats(stored));
  EXPECT_EQ((*source)->Find("blk.1.ffn_norm.weight")->format, WeightFormat::kF32);  // F16
  EXPECT_EQ((*source)->Find("blk.0.ffn_gate.weight")->format, WeightFormat::kF16);
  EXPECT_EQ((*source)->Find("blk.0.ffn_down.weight")->format, WeightFormat::kBF16);
  EXPECT_EQ((*source)->Find("blk.0.attn_q.weight")->shape, (std::vector<int64_t>{32, 40}));
  EXPECT_EQ((*source)->Find("blk.9.attn_q.weight").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HfCheckpointTest, MisalignedDataIsCopiedAligned) {
  Write("/m", tensors_);
  // Re-pad the header so that the data buffer starts 2 bytes off 4-alignment.
  const std::string file = env_->ReadFile("/m/model.safetensors").value();
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  std::string header = file.substr(8, n);
  header.erase(header.find_last_not_of(' ') + 1);
  header.append((4 + 2 - header.size() % 4) % 4 + 4, ' ');  // (8 + size) % 4 == 2
  ASSERT_TRUE(env_->WriteFileAtomically("/m/model.safetensors",
                                        SafetensorsBytes(header, file.substr(8 + n)))
                  .ok());
  auto source = OpenHfTensorSource(env_.get(), "/m");
  ASSERT_TRUE(source.ok()) << source.status();
  for (const char* name : {"blk.0.attn_q.weight", "blk.1.ffn_up.weight", "output_norm.weight"}) {
    const RawTensor t = (*source)->Find(name).value();
    EXPECT_EQ(
        reinterpret_cast<uintptr_t>(t.bytes.data()) % (t.format == WeightFormat::kF32 ? 4 : 2), 0u)
        << name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size()),
              Named(tensors_, t.name).data)
        << name;
  }
}

TEST_F(HfCheckpointTest, InvFreqIsIgnored) {
  EXPECT_TRUE(OpenEdited([](std::vector<TensorCopy>& t) {
                t.push_back({"model.layers.1.self_attn.rotary_emb.inv_freq",
                             SafetensorsDtype::kF32,
                             {4},
                             std::string(16, '\0')});
              }).ok());
}

TEST_F(HfCheckpointTest, RejectionsNameFileAndTensor) {
  absl::Status s = OpenHfTensorSource(env_.get(), "/nothing").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("/nothing/config.json"));

  s = OpenEdited([](std::vector<TensorCopy>& t) { t.erase(t.begin() + 5); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("/ck: tensor '"));
  EXPECT_THAT(s.message(), HasSubstr("' is missing"));

  s = OpenEdited([](std::vector<TensorCopy>& t) {
    std::erase_if(t, [](const TensorCopy& c) { return c.name == "lm_head.weight"; });
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'lm_head.weight' is missing (tie_word_embeddings is false"));

  s = OpenEdited([this](std::vector<TensorCopy>& t) {
    TensorCopy& k = Named(t, "model.layers.1.self_attn.k_proj.weight");
    k.shape = {24, 40};
    k.data.resize(24 * 40 * 4);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("/ck/model.safetensors: tensor 'model.layers.1.self_attn.k_proj.weight' "
                        "has shape [24, 40] but /ck/config.json"));
  EXPECT_THAT(s.message(), HasSubstr("implies [16, 40]: self-contradicting"));

  s = OpenEdited([this](std::vector<TensorCopy>& t) {
    Named(t, "model.layers.0.self_attn.v_proj.weight").dtype = SafetensorsDtype::kI32;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("'model.layers.0.self_attn.v_proj.weight' has dtype I32"));

  s = OpenEdited([](std::vector<TensorCopy>& t) {
    t.push_back({"model.layers.0.self_attn.q_proj.bias",
                 SafetensorsDtype::kF32,
                 {32},
                 std::string(128, '\0')});
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("'model.layers.0.self_attn.q_proj.bias' is not part of"));

  s = OpenEdited([](std::vector<TensorCopy>& t) {
    t.push_back({"model.layers.2.input_layernorm.weight",
                 SafetensorsDtype::kF32,
                 {40},
                 std::string(160, '\0')});
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("is outside num_hidden_layers=2"));
}

TEST(EngineTensorNameTest, MapsHuggingFaceNames) {
  EXPECT_EQ(EngineTensorName("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(EngineTensorName("lm_head.weight"), "output.weight");
  EXPECT_EQ(EngineTensorName("model.norm.weight"), "output_norm.weight");
  EXPECT_EQ(EngineTensorName("model.layers.12.self_attn.o_proj.weight"),
            "blk.12.attn_output.weight");
  EXPECT_EQ(EngineTensorName("model.layers.0.post_attention_layernorm.weight"),
            "blk.0.ffn_norm.weight");
  EXPECT_EQ(EngineTensorName("model.layers.3.mlp.down_proj.weight"), "blk.3.ffn_down.weight");
  EXPECT_EQ(EngineTensorName("model.layers.03.mlp.down_proj.weight"), std::nullopt);
  EXPECT_EQ(EngineTensorName("model.layers.-1.mlp.down_proj.weight"), std::nullopt);
  EXPECT_EQ(EngineTensorName("model.layers.1.mlp.down_proj.bias"), std::nullopt);
  EXPECT_EQ(EngineTensorName("model.layers.mlp.down_proj.weight"), std::nullopt);
}

}  // namespace
}  // namespace gqa
