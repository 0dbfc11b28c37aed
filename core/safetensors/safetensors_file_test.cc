#include "core/safetensors/safetensors_file.h"

#include <cstring>

#include "core/half.h"
#include "core/safetensors/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string TwoTensorFile() {
  SafetensorsWriter writer;
  EXPECT_TRUE(writer
                  .AddTensor("w", SafetensorsDtype::kF32, {2, 3},
                             EncodeFloats({1, 2, 3, 4, 5, 6}, SafetensorsDtype::kF32))
                  .ok());
  EXPECT_TRUE(writer
                  .AddTensor("n", SafetensorsDtype::kBF16, {3},
                             EncodeFloats({1.5f, -2.0f, 0.25f}, SafetensorsDtype::kBF16))
                  .ok());
  writer.AddMetadata("format", "pt");
  return writer.Finish();
}

TEST(SafetensorsFileTest, WriterRoundTrips) {
  const std::string bytes = TwoTensorFile();
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(Bytes(bytes), "two.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->data_offset() % 8, 0u) << "the writer pads the header to 8 bytes";
  EXPECT_EQ(file->data_buffer().size(), 24u + 6u);
  ASSERT_EQ(file->tensors().size(), 2u);
  const SafetensorsTensor* w = file->FindTensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w, &file->tensors()[0]);  // data order
  EXPECT_EQ(w->dtype, SafetensorsDtype::kF32);
  EXPECT_THAT(w->shape, ElementsAre(2, 3));
  EXPECT_EQ(w->num_elements, 6);
  float values[6];
  std::memcpy(values, w->data.data(), sizeof(values));
  EXPECT_EQ(values[5], 6.0f);
  const SafetensorsTensor* n = file->FindTensor("n");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->begin_bytes, 24u);
  EXPECT_EQ(n->end_bytes, 30u);
  EXPECT_EQ(Bf16ToFloat(static_cast<uint16_t>(n->data[2] | n->data[3] << 8)), -2.0f);
  EXPECT_EQ(file->FindTensor("missing"), nullptr);
  EXPECT_THAT(file->metadata(), ElementsAre(Pair("format", "pt")));
  EXPECT_EQ(file->header_bytes().size(), file->data_offset());
}

TEST(SafetensorsFileTest, EveryTruncationIsRejectedCleanly) {
  const std::string bytes = TwoTensorFile();
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::Status status = ParseSafetensors(Bytes(bytes.substr(0, n)), "cut").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << n;
    EXPECT_THAT(status.message(), HasSubstr("cut: ")) << n;
  }
}

TEST(SafetensorsFileTest, EveryDtypeNameRoundTrips) {
  for (int i = 0; i <= static_cast<int>(SafetensorsDtype::kU64); ++i) {
    const auto dtype = static_cast<SafetensorsDtype>(i);
    EXPECT_EQ(SafetensorsDtypeFromName(SafetensorsDtypeName(dtype)), dtype);
  }
  EXPECT_EQ(SafetensorsDtypeBytes(SafetensorsDtype::kBF16), 2);
  EXPECT_EQ(SafetensorsDtypeBytes(SafetensorsDtype::kI64), 8);
  EXPECT_EQ(SafetensorsDtypeFromName("bf16"), std::nullopt);
}

TEST(SafetensorsFileTest, UnsupportedButKnownDtypesParse) {
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddTensor("ids", SafetensorsDtype::kI64, {2}, std::string(16, '\0')).ok());
  ASSERT_TRUE(writer.AddTensor("d", SafetensorsDtype::kF64, {}, std::string(8, '\0')).ok());
  const std::string bytes = writer.Finish();
  absl::StatusOr<SafetensorsFile> file = ParseSafetensors(Bytes(bytes), "ints");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->FindTensor("d")->num_elements, 1);  // a scalar
}

TEST(SafetensorsFileTest, WriterRefusesBadTensors) {
  SafetensorsWriter writer;
  EXPECT_FALSE(writer.AddTensor("a", SafetensorsDtype::kF32, {2}, "1234").ok());
  EXPECT_FALSE(writer.AddTensor("", SafetensorsDtype::kU8, {1}, "1").ok());
  EXPECT_TRUE(writer.AddTensor("a", SafetensorsDtype::kU8, {1}, "1").ok());
  EXPECT_FALSE(writer.AddTensor("a", SafetensorsDtype::kU8, {1}, "1").ok());
}

TEST(SafetensorsFileTest, OpenThroughEnv) {
  auto env = NewMemEnv();
  EXPECT_EQ(OpenSafetensors(env.get(), "/m.safetensors").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(env->WriteFileAtomically("/m.safetensors", TwoTensorFile()).ok());
  auto model = OpenSafetensors(env.get(), "/m.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->path(), "/m.safetensors");
  EXPECT_EQ((*model)->file().display_name(), "/m.safetensors");
  EXPECT_NE((*model)->file().FindTensor("n"), nullptr);
}

}  // namespace
}  // namespace gqa
