#include "core/gguf/gguf_file.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/env.h"
#include "core/gguf/ggml_type.h"
#include "core/gguf/gguf_test_util.h"
#include "core/gguf/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string WriteOrDie(const GgufWriter& writer) {
  absl::StatusOr<std::string> bytes = writer.Write();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

TEST(GgmlTypeTest, BlockGeometryOfTheComputeTypes) {
  const struct {
    GgmlType type;
    int64_t elems;
    int64_t bytes;
  } expected[] = {{GgmlType::kF32, 1, 4},      {GgmlType::kF16, 1, 2},
                  {GgmlType::kBF16, 1, 2},     {GgmlType::kQ4_0, 32, 18},
                  {GgmlType::kQ4_1, 32, 20},   {GgmlType::kQ8_0, 32, 34},
                  {GgmlType::kQ4_K, 256, 144}, {GgmlType::kQ6_K, 256, 210}};
  for (const auto& e : expected) {
    const GgmlTypeTraits traits = GetGgmlTypeTraits(e.type);
    EXPECT_EQ(traits.block_elems, e.elems) << traits.name;
    EXPECT_EQ(traits.block_bytes, e.bytes) << traits.name;
  }
  EXPECT_FALSE(LookupGgmlType(4).has_value());  // Q4_2, removed from ggml
  EXPECT_FALSE(LookupGgmlType(1000).has_value());
  EXPECT_TRUE(IsGgmlTypeSupportedForCompute(GgmlType::kQ4_1));
  EXPECT_FALSE(IsGgmlTypeSupportedForCompute(GgmlType::kQ4_K));
}

class GgufGetterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GgufWriter w;
    w.AddUint32("u32", 30);
    w.AddInt32("i32", -5);
    w.AddUint64("big", 18000000000000000000ull);
    w.AddFloat32("f32", 0.5f);
    w.AddFloat64("f64", 1e-6);
    w.AddBool("flag", true);
    w.AddString("name", "SmolLM2");
    w.AddStringArray("tokens", {"<s>", "a", "bc"});
    w.AddInt32Array("ids", {3, -1, 7});
    w.AddFloat32Array("scores", {0.25f, -1.5f});
    bytes_ = WriteOrDie(w);
    absl::StatusOr<GgufFile> file = ParseGguf(Bytes(bytes_), "getters.gguf");
    ASSERT_TRUE(file.ok()) << file.status();
    file_.emplace(*std::move(file));
  }
  std::string bytes_;
  std::optional<GgufFile> file_;
};

TEST_F(GgufGetterTest, TypedValues) {
  EXPECT_EQ(*file_->GetUint("u32"), 30u);
  EXPECT_EQ(*file_->GetInt("u32"), 30);
  EXPECT_EQ(*file_->GetInt("i32"), -5);
  EXPECT_EQ(*file_->GetUint("big"), 18000000000000000000ull);
  EXPECT_EQ(*file_->GetFloat("f32"), 0.5);
  EXPECT_EQ(*file_->GetFloat("f64"), 1e-6);
  EXPECT_TRUE(*file_->GetBool("flag"));
  EXPECT_EQ(*file_->GetString("name"), "SmolLM2");
  EXPECT_THAT(*file_->GetStringArray("tokens"), ElementsAre("<s>", "a", "bc"));
  EXPECT_THAT(*file_->GetIntArray("ids"), ElementsAre(3, -1, 7));
  EXPECT_THAT(*file_->GetFloatArray("scores"), ElementsAre(0.25f, -1.5f));
  EXPECT_EQ(*file_->GetArrayLength("tokens"), 3u);
  EXPECT_EQ(file_->metadata().size(), 10u);
  EXPECT_EQ(file_->metadata()[6].key, "name");
  EXPECT_EQ(file_->FindValue("tokens")->DebugString(), "ARRAY<STRING>[3]");
}

TEST_F(GgufGetterTest, MissingKeyIsNotFoundNamingTheKey) {
  absl::StatusOr<uint64_t> missing = file_->GetUint("llama.block_count");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("getters.gguf: metadata key 'llama.block_count' is missing"));
  EXPECT_EQ(file_->GetTensor("x").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(GgufGetterTest, WrongTypeNamesKeyExpectedAndActual) {
  const absl::Status status = file_->GetUint("name").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "getters.gguf: key 'name': expected an unsigned integer, found STRING");
  EXPECT_THAT(file_->GetString("u32").status().message(),
              HasSubstr("expected STRING, found UINT32"));
  EXPECT_THAT(file_->GetFloat("u32").status().message(), HasSubstr("found UINT32"));
  EXPECT_THAT(file_->GetStringArray("ids").status().message(),
              HasSubstr("key 'ids': expected ARRAY of STRING, found ARRAY of INT32"));
  EXPECT_THAT(file_->GetUint("i32").status().message(), HasSubstr("found INT32 -5"));
  EXPECT_THAT(file_->GetInt("big").status().message(), HasSubstr("does not fit int64"));
  EXPECT_THAT(file_->GetArrayLength("u32").status().message(), HasSubstr("expected an ARRAY"));
}

TEST(GgufFileTest, TensorInfosAndData) {
  GgufWriter w;
  const std::string f32 = PatternBytes(4 * 6, 1);
  const std::string q4 = PatternBytes(18 * 4, 2);
  const std::string q8 = PatternBytes(34 * 2, 3);
  w.AddTensor("a", GgmlType::kF32, {3, 2}, f32);
  w.AddTensor("b", GgmlType::kQ4_0, {64, 2}, q4);
  w.AddTensor("c", GgmlType::kQ8_0, {32, 1, 1, 2}, q8);
  const std::string bytes = WriteOrDie(w);
  absl::StatusOr<GgufFile> file = ParseGguf(Bytes(bytes), "t.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->data_offset() % 32, 0u);
  const GgufTensorInfo& b = *file->FindTensor("b");
  EXPECT_EQ(b.type, GgmlType::kQ4_0);
  EXPECT_THAT(b.shape, ElementsAre(64, 2));
  EXPECT_EQ(b.num_elements, 128);
  EXPECT_EQ(b.size_bytes, 72u);
  EXPECT_EQ(b.offset_bytes, 32u);  // after a's 24 bytes, padded to 32
  EXPECT_EQ(std::string(b.data.begin(), b.data.end()), q4);
  const GgufTensorInfo& c = **file->GetTensor("c");
  EXPECT_EQ(c.offset_bytes, 32u + 96u);
  EXPECT_THAT(c.shape, ElementsAre(32, 1, 1, 2));
  EXPECT_EQ(std::string(c.data.begin(), c.data.end()), q8);
  EXPECT_EQ(std::string(file->tensors()[0].data.begin(), file->tensors()[0].data.end()), f32);
}

// Writer -> parser -> writer reproduces the file byte for byte, for both
// versions and a non-default alignment.
TEST(GgufFileTest, RoundTripIsByteExact) {
  for (const GgufWriterOptions options :
       {GgufWriterOptions{}, GgufWriterOptions{.version = 2, .alignment = 64},
        GgufWriterOptions{.version = 3, .alignment = 1}}) {
    GgufWriter w(options);
    AddTinyLlama(TinyLlamaOptions{.num_layers = 2, .tied_embeddings = false}, &w);
    w.AddInt8("x.i8", -3);
    w.AddInt16("x.i16", -300);
    w.AddUint16("x.u16", 65535);
    w.AddUint8("x.u8", 255);
    w.AddInt64("x.i64", -1);
    const std::string original = WriteOrDie(w);
    absl::StatusOr<GgufFile> file = ParseGguf(Bytes(original), "rt.gguf");
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(file->version(), options.version);
    EXPECT_EQ(file->alignment(), options.alignment);
    EXPECT_EQ(*file->GetInt("x.i16"), -300);
    EXPECT_EQ(*file->GetInt("x.i64"), -1);
    GgufWriter copy(options);
    for (const GgufKv& kv : file->metadata()) copy.AddValue(kv.key, kv.value);
    for (const GgufTensorInfo& t : file->tensors()) {
      copy.AddTensor(t.name, t.type, t.shape,
                     {reinterpret_cast<const char*>(t.data.data()), t.data.size()});
    }
    EXPECT_EQ(WriteOrDie(copy), original) << "alignment " << options.alignment;
  }
}

TEST(GgufWriterTest, MistakesAreReportedByWrite) {
  GgufWriter dup;
  dup.AddUint32("k", 1);
  dup.AddString("k", "again");
  EXPECT_THAT(dup.Write().status().message(), HasSubstr("duplicate metadata key 'k'"));

  GgufWriter size;
  size.AddTensor("t", GgmlType::kQ8_0, {32}, "short");
  EXPECT_THAT(size.Write().status().message(), HasSubstr("5 data bytes given, Q8_0"));

  GgufWriter block;
  block.AddTensor("t", GgmlType::kQ4_1, {16}, std::string(10, '\0'));
  EXPECT_THAT(block.Write().status().message(), HasSubstr("not a multiple of the Q4_1 block"));

  GgufWriter alignment;
  alignment.AddUint32("general.alignment", 64);
  EXPECT_THAT(alignment.Write().status().message(), HasSubstr("GgufWriterOptions::alignment"));

  GgufWriter long_name;
  long_name.AddTensor(std::string(300, 'n'), GgmlType::kF32, {1}, std::string(4, '\0'));
  EXPECT_THAT(long_name.Write().status().message(), HasSubstr("tensor name of 300 bytes"));

  GgufWriter bad_options(GgufWriterOptions{.alignment = 48});
  EXPECT_EQ(bad_options.Write().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GgufFileTest, OpenThroughEnvKeepsTheMappingAlive) {
  std::unique_ptr<MemEnv> env = NewMemEnv();
  ASSERT_TRUE(env->WriteFileAtomically("/m/tiny.gguf", TinyLlamaGguf()).ok());
  absl::StatusOr<std::unique_ptr<GgufModelFile>> model = OpenGguf(env.get(), "/m/tiny.gguf");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(env->DeleteFile("/m/tiny.gguf").ok());  // the mapping outlives the name
  EXPECT_EQ((*model)->path(), "/m/tiny.gguf");
  EXPECT_EQ(*(*model)->file().GetString("general.architecture"), "llama");
  EXPECT_EQ((*model)->file().tensors().size(), 11u);

  EXPECT_EQ(OpenGguf(env.get(), "/m/none.gguf").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(env->WriteFileAtomically("/m/bad.gguf", "GGUF").ok());
  EXPECT_THAT(OpenGguf(env.get(), "/m/bad.gguf").status().message(),
              HasSubstr("/m/bad.gguf: truncated header"));
}

// Every proper prefix of a valid file is rejected (never crashes).
TEST(GgufFileTest, EveryTruncationIsRejected) {
  const std::string tiny = TinyLlamaGguf();
  for (size_t n = 0; n < tiny.size(); ++n) {
    const std::string prefix = tiny.substr(0, n);
    absl::StatusOr<GgufFile> file = ParseGguf(Bytes(prefix), "cut.gguf");
    ASSERT_FALSE(file.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
}

}  // namespace
}  // namespace gqa
