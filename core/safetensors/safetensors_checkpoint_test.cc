#include "core/safetensors/safetensors_checkpoint.h"

#include "core/safetensors/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string FileWith(const std::vector<std::string>& names) {
  SafetensorsWriter writer;
  for (const std::string& name : names) {
    EXPECT_TRUE(writer
                    .AddTensor(name, SafetensorsDtype::kF32, {1},
                               EncodeFloats({1.0f}, SafetensorsDtype::kF32))
                    .ok());
  }
  return writer.Finish();
}

class SafetensorsCheckpointTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& contents) {
    ASSERT_TRUE(env_->WriteFileAtomically("/m/" + name, contents).ok());
  }
  absl::Status OpenStatus() { return OpenSafetensorsCheckpoint(env_.get(), "/m").status(); }
  void WriteShards(const std::string& index) {
    Write("a.safetensors", FileWith({"x", "y"}));
    Write("b.safetensors", FileWith({"z"}));
    Write(kSafetensorsIndexFileName, index);
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
};

TEST_F(SafetensorsCheckpointTest, NeitherFileIsNotFound) {
  ASSERT_TRUE(env_->CreateDirs("/m").ok());
  absl::Status status = OpenStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/m: neither model.safetensors"));
}

TEST_F(SafetensorsCheckpointTest, SingleFile) {
  Write("model.safetensors", FileWith({"b", "a"}));
  auto checkpoint = OpenSafetensorsCheckpoint(env_.get(), "/m");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(), ElementsAre("a", "b"));
  const SafetensorsModelFile* file = nullptr;
  ASSERT_NE((*checkpoint)->FindTensor("a", &file), nullptr);
  EXPECT_EQ(file->path(), "/m/model.safetensors");
}

TEST_F(SafetensorsCheckpointTest, ShardsThroughTheIndex) {
  WriteShards(R"({"metadata": {"total_size": 12}, "weight_map": {"x": "a.safetensors",
                 "y": "a.safetensors", "z": "b.safetensors"}})");
  auto checkpoint = OpenSafetensorsCheckpoint(env_.get(), "/m");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->files().size(), 2u);
  EXPECT_THAT((*checkpoint)->TensorNames(), ElementsAre("x", "y", "z"));
  const SafetensorsModelFile* file = nullptr;
  ASSERT_NE((*checkpoint)->FindTensor("z", &file), nullptr);
  EXPECT_EQ(file->path(), "/m/b.safetensors");
}

TEST_F(SafetensorsCheckpointTest, SingleFileWinsOverIndex) {
  WriteShards(R"({"weight_map": {"x": "a.safetensors"}})");  // inconsistent, but unread
  Write("model.safetensors", FileWith({"only"}));
  auto checkpoint = OpenSafetensorsCheckpoint(env_.get(), "/m");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(), ElementsAre("only"));
}

TEST_F(SafetensorsCheckpointTest, ShardTensorMissingFromIndex) {
  WriteShards(R"({"weight_map": {"x": "a.safetensors", "z": "b.safetensors"}})");
  absl::Status status = OpenStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/m/a.safetensors: tensor 'y' is not mapped to this "
                                          "file by /m/model.safetensors.index.json (not listed)"));
}

TEST_F(SafetensorsCheckpointTest, TensorInTwoShards) {
  Write("a.safetensors", FileWith({"x"}));
  Write("b.safetensors", FileWith({"x"}));
  Write(kSafetensorsIndexFileName,
        R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
  absl::Status status = OpenStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tensor 'x' is not mapped to this file"));
  EXPECT_THAT(status.message(), HasSubstr("(listed in 'a.safetensors')"));
}

TEST_F(SafetensorsCheckpointTest, IndexListsAbsentTensor) {
  WriteShards(R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors",
                 "z": "b.safetensors", "w": "b.safetensors"}})");
  absl::Status status = OpenStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tensor 'w' is listed in 'b.safetensors' but that "
                                          "file has no such tensor"));
}

TEST_F(SafetensorsCheckpointTest, MissingShardIsNotFound) {
  Write("a.safetensors", FileWith({"x"}));
  Write(kSafetensorsIndexFileName,
        R"({"weight_map": {"x": "a.safetensors", "y": "gone.safetensors"}})");
  EXPECT_EQ(OpenStatus().code(), absl::StatusCode::kNotFound);
}

TEST_F(SafetensorsCheckpointTest, BrokenShardNamesTheShard) {
  Write("a.safetensors", "junk");
  Write(kSafetensorsIndexFileName, R"({"weight_map": {"x": "a.safetensors"}})");
  absl::Status status = OpenStatus();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/m/a.safetensors: "));
}

}  // namespace
}  // namespace gqa
