#include "worker/engine/convert/gguf_convert.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/gguf/gguf_model_config.h"
#include "core/gguf/gguf_test_util.h"
#include "core/half.h"
#include "core/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/dot_kernels.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// A path in the test temp dir unique to the running test (ctest runs tests
// of one binary in parallel processes).
std::string TempPath(const std::string& suffix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return ::testing::TempDir() + "/" + name + "." + suffix;
}

GgufFile Parse(const std::string& bytes) {
  absl::StatusOr<GgufFile> file =
      ParseGguf({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "test.gguf");
  CHECK(file.ok()) << file.status();
  return *std::move(file);
}

// Runs ConvertGguf on `in` and returns the written bytes (empty on error).
absl::StatusOr<std::string> Convert(const std::string& in, const ConvertOptions& options) {
  const GgufFile file = Parse(in);
  GgufWriter writer(GgufWriterOptions{.version = 3, .alignment = file.alignment()});
  absl::StatusOr<ConvertSummary> summary = ConvertGguf(file, options, &writer);
  if (!summary.ok()) return summary.status();
  return writer.Write();
}

// Every element of `t` as floats, through the CPU kernels' dequantizer.
std::vector<float> Values(const GgufTensorInfo& t) {
  WeightFormat format = WeightFormat::kF32;
  switch (t.type) {
    case GgmlType::kF32: format = WeightFormat::kF32; break;
    case GgmlType::kF16: format = WeightFormat::kF16; break;
    case GgmlType::kBF16: format = WeightFormat::kBF16; break;
    case GgmlType::kQ8_0: format = WeightFormat::kQ8_0; break;
    case GgmlType::kQ4_0: format = WeightFormat::kQ4_0; break;
    case GgmlType::kQ4_1: format = WeightFormat::kQ4_1; break;
    default: ADD_FAILURE() << GgmlTypeName(t.type);
  }
  const int64_t cols = t.shape[0], rows = t.num_elements / cols;
  std::vector<float> out(t.num_elements);
  for (int64_t r = 0; r < rows; ++r) {
    cpu::DequantizeRow(format, t.data.data() + r * RowBytes(format, cols), cols,
                       out.data() + r * cols);
  }
  return out;
}

TinyLlamaOptions QuantizableTiny(GgmlType type) {
  TinyLlamaOptions o;
  o.hidden_size = 32;
  o.num_query_heads = 4;
  o.num_kv_heads = 2;
  o.head_dim = 8;
  o.intermediate_size = 64;
  o.matrix_type = type;
  o.tied_embeddings = false;
  return o;
}

// Every key of `in` but `changed` is in `out` with the same value, in order.
void ExpectMetadataCopied(const GgufFile& in, const GgufFile& out,
                          const std::vector<std::string>& changed) {
  for (const GgufKv& kv : in.metadata()) {
    if (std::find(changed.begin(), changed.end(), kv.key) != changed.end()) continue;
    const GgufValue* copy = out.FindValue(kv.key);
    ASSERT_NE(copy, nullptr) << kv.key;
    EXPECT_EQ(copy->DebugString(), kv.value.DebugString()) << kv.key;
  }
}

class ConvertToF32Test : public ::testing::TestWithParam<GgmlType> {};

TEST_P(ConvertToF32Test, KeepsEveryDequantizedValueExactly) {
  const std::string in_bytes = TinyLlamaGguf(QuantizableTiny(GetParam()));
  absl::StatusOr<std::string> out_bytes = Convert(in_bytes, {.dtype = GgmlType::kF32});
  ASSERT_TRUE(out_bytes.ok()) << out_bytes.status();
  const GgufFile in = Parse(in_bytes), out = Parse(*out_bytes);
  ASSERT_EQ(out.tensors().size(), in.tensors().size());
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const GgufTensorInfo& a = in.tensors()[i];
    const GgufTensorInfo& b = out.tensors()[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.shape, a.shape) << a.name;
    EXPECT_EQ(b.type, GgmlType::kF32) << a.name;
    const std::vector<float> expected = Values(a);
    ASSERT_EQ(b.size_bytes, expected.size() * sizeof(float)) << a.name;
    // Bit for bit (the pattern bytes make some NaNs, which == would reject).
    EXPECT_EQ(std::memcmp(b.data.data(), expected.data(), b.size_bytes), 0) << a.name;
  }
  EXPECT_EQ(*out.GetUint("general.file_type"), 0u);
  ExpectMetadataCopied(in, out, {"general.file_type"});
}

INSTANTIATE_TEST_SUITE_P(StoredTypes, ConvertToF32Test,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1),
                         [](const auto& info) { return std::string(GgmlTypeName(info.param)); });

TEST(ConvertGgufTest, HalfTypesRoundEachValueAndKeepNormsF32) {
  const std::string in_bytes = TinyLlamaGguf(QuantizableTiny(GgmlType::kQ8_0));
  for (GgmlType dtype : {GgmlType::kF16, GgmlType::kBF16}) {
    absl::StatusOr<std::string> out_bytes = Convert(in_bytes, {.dtype = dtype});
    ASSERT_TRUE(out_bytes.ok()) << out_bytes.status();
    const GgufFile in = Parse(in_bytes), out = Parse(*out_bytes);
    EXPECT_EQ(*out.GetUint("general.file_type"), LlamaFileType(dtype));
    for (size_t i = 0; i < in.tensors().size(); ++i) {
      const GgufTensorInfo& a = in.tensors()[i];
      const GgufTensorInfo& b = out.tensors()[i];
      const std::vector<float> values = Values(a);
      if (a.shape.size() == 1) {  // norms stay F32
        EXPECT_EQ(b.type, GgmlType::kF32) << a.name;
        EXPECT_EQ(std::memcmp(b.data.data(), a.data.data(), a.size_bytes), 0) << a.name;
        continue;
      }
      ASSERT_EQ(b.type, dtype) << a.name;
      std::vector<uint16_t> stored(values.size());
      std::memcpy(stored.data(), b.data.data(), b.size_bytes);
      for (size_t e = 0; e < values.size(); ++e) {
        const uint16_t want = dtype == GgmlType::kF16 ? FloatToHalf(values[e])
                                                      : FloatToBf16(values[e]);
        ASSERT_EQ(stored[e], want) << a.name << "[" << e << "]";
      }
    }
  }
  EXPECT_EQ(LlamaFileType(GgmlType::kF16), 1u);
  EXPECT_EQ(LlamaFileType(GgmlType::kBF16), 32u);
}

TEST(ConvertGgufTest, UnsupportedTypesAreRefusedByName) {
  absl::StatusOr<std::string> out = Convert(TinyLlamaGguf(QuantizableTiny(GgmlType::kQ5_0)), {});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(out.status().message(), HasSubstr("tensor 'token_embd.weight' has type Q5_0"));
  out = Convert(TinyLlamaGguf(QuantizableTiny(GgmlType::kF32)), {.dtype = GgmlType::kQ8_0});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConvertDType("f16").value(), GgmlType::kF16);
  EXPECT_EQ(ParseConvertDType("bf16").value(), GgmlType::kBF16);
  EXPECT_THAT(ParseConvertDType("q4_0").status().message(),
              HasSubstr("--dtype 'q4_0': expected f32, f16 or bf16"));
}

TEST(ConvertGgufTest, KvHeadsMeanPoolsKAndVAndRewritesTheHeadCount) {
  RandomLlamaOptions options;
  options.num_query_heads = 8;
  options.num_kv_heads = 4;
  options.with_kv_bias = true;
  const std::string in_bytes = RandomLlamaGguf(options);
  absl::StatusOr<std::string> out_bytes =
      Convert(in_bytes, {.dtype = GgmlType::kF32, .kv_heads = 2});
  ASSERT_TRUE(out_bytes.ok()) << out_bytes.status();
  const GgufFile in = Parse(in_bytes), out = Parse(*out_bytes);

  EXPECT_EQ(*out.GetUint("llama.attention.head_count_kv"), 2u);
  ExpectMetadataCopied(in, out, {"llama.attention.head_count_kv"});
  EXPECT_EQ(*out.GetString("tokenizer.chat_template"), *in.GetString("tokenizer.chat_template"));
  absl::StatusOr<ModelConfig> config = ModelConfigFromGguf(out);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_kv_heads, 2);
  EXPECT_EQ(config->num_query_heads, 8);

  const int64_t d = options.head_dim;
  for (const GgufTensorInfo& a : in.tensors()) {
    const GgufTensorInfo* b = out.FindTensor(a.name);
    ASSERT_NE(b, nullptr) << a.name;
    const std::vector<float> old_values = Values(a), new_values = Values(*b);
    const bool is_kv = a.name.find("attn_k.") != std::string::npos ||
                       a.name.find("attn_v.") != std::string::npos;
    if (!is_kv) {
      EXPECT_EQ(new_values, old_values) << a.name;
      continue;
    }
    const int64_t cols = a.shape.size() == 1 ? 1 : a.shape[0];
    std::vector<int64_t> want_shape = a.shape;
    want_shape[a.shape.size() == 1 ? 0 : 1] = 2 * d;
    EXPECT_EQ(b->shape, want_shape) << a.name;
    ASSERT_EQ(new_values.size(), 2 * d * cols) << a.name;
    // New head j = mean of old heads 2j and 2j + 1.
    for (int64_t j = 0; j < 2; ++j) {
      for (int64_t e = 0; e < d * cols; ++e) {
        const double a0 = old_values[(2 * j) * d * cols + e];
        const double a1 = old_values[(2 * j + 1) * d * cols + e];
        ASSERT_EQ(new_values[j * d * cols + e], static_cast<float>((a0 + a1) / 2)) << a.name;
      }
    }
  }
}

TEST(ConvertGgufTest, KvHeadsMustDivideTheModelsKvHeads) {
  RandomLlamaOptions options;  // 4 KV heads
  for (int64_t bad : {3, 0, 8}) {
    absl::StatusOr<std::string> out = Convert(RandomLlamaGguf(options), {.kv_heads = bad});
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(out.status().message(), HasSubstr("--kv-heads")) << bad;
  }
  absl::StatusOr<std::string> same = Convert(RandomLlamaGguf(options), {.kv_heads = 4});
  EXPECT_TRUE(same.ok()) << same.status();
}

TEST(ConvertGgufFileTest, WritesAValidModelAndReportsFileErrors) {
  Env* env = Env::Default();
  const std::string dir = ::testing::TempDir();
  const std::string in_path = TempPath("in.gguf"), out_path = TempPath("out.gguf");
  RandomLlamaOptions options;
  options.num_kv_heads = 2;
  ASSERT_TRUE(env->WriteFileAtomically(in_path, RandomLlamaGguf(options)).ok());

  absl::StatusOr<ConvertSummary> summary =
      ConvertGgufFile(env, in_path, out_path, {.dtype = GgmlType::kBF16, .kv_heads = 1});
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->old_kv_heads, 2);
  EXPECT_EQ(summary->new_kv_heads, 1);
  EXPECT_EQ(summary->num_tensors, 1 + 9 * 2 + 2);
  EXPECT_EQ(summary->num_pooled_tensors, 2 * 2);
  EXPECT_EQ(static_cast<uint64_t>(summary->output_bytes), *env->GetFileSize(out_path));
  absl::StatusOr<ModelConfig> config = ReadGgufModelConfig(env, out_path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_kv_heads, 1);

  absl::StatusOr<ConvertSummary> missing =
      ConvertGgufFile(env, dir + "/no_such.gguf", out_path, {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no_such.gguf"));
  absl::StatusOr<ConvertSummary> unwritable =
      ConvertGgufFile(env, in_path, dir + "/no_such_dir/out.gguf", {});
  EXPECT_FALSE(unwritable.ok());
  EXPECT_THAT(unwritable.status().message(), HasSubstr("no_such_dir/out.gguf"));
}

}  // namespace
}  // namespace gqa
