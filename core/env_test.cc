#include "core/env.h"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "gtest/gtest.h"

namespace gqa {
namespace {

std::string TempDir() {
  char pattern[] = "/tmp/gqa_env_test_XXXXXX";
  char* dir = ::mkdtemp(pattern);
  return dir == nullptr ? std::string("/tmp") : std::string(dir);
}

void ExerciseFiles(Env* env, const std::string& dir) {
  const std::string path = dir + "/a.txt";
  EXPECT_FALSE(env->FileExists(path));
  EXPECT_EQ(env->ReadFile(path).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(env->WriteFileAtomically(path, "hello").ok());
  EXPECT_TRUE(env->FileExists(path));
  EXPECT_EQ(*env->ReadFile(path), "hello");
  EXPECT_EQ(*env->GetFileSize(path), 5u);
  ASSERT_TRUE(env->WriteFileAtomically(path, "replaced").ok());
  auto mapped = env->MapFile(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  const auto bytes = (*mapped)->bytes();
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "replaced");
  auto names = env->ListDir(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"a.txt"});  // no temporary left behind
  ASSERT_TRUE(env->DeleteFile(path).ok());
  EXPECT_FALSE(env->FileExists(path));
  EXPECT_EQ(env->DeleteFile(path).code(), absl::StatusCode::kNotFound);
}

// Appendable and positional-read files, the same on every Env.
void ExerciseAppendAndRead(Env* env, const std::string& dir) {
  const std::string path = dir + "/log";
  {
    auto file = env->NewAppendableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->Size(), 0u);
    ASSERT_TRUE((*file)->Append("hello ").ok());
    ASSERT_TRUE((*file)->Append("").ok());
    ASSERT_TRUE((*file)->Append("world").ok());
    EXPECT_EQ((*file)->Size(), 11u);
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Close().ok());
    ASSERT_TRUE((*file)->Close().ok());  // idempotent
    EXPECT_EQ((*file)->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  }
  // Reopening keeps the bytes and appends after them.
  auto again = env->NewAppendableFile(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Size(), 11u);
  auto mapped = env->MapFile(path);  // a snapshot that later appends do not disturb
  ASSERT_TRUE(mapped.ok());
  ASSERT_TRUE((*again)->Append("!").ok());
  EXPECT_EQ(*env->ReadFile(path), "hello world!");
  EXPECT_EQ((*mapped)->bytes().size(), 11u);

  auto reader = env->NewRandomAccessFile(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*(*reader)->Read(0, 5), "hello");
  EXPECT_EQ(*(*reader)->Read(6, 100), "world!");  // short at the end
  EXPECT_EQ(*(*reader)->Read(12, 4), "");
  EXPECT_EQ(*(*reader)->Read(1000, 4), "");
  ASSERT_TRUE((*again)->Append("?").ok());
  EXPECT_EQ(*(*reader)->Read(11, 2), "!?");  // sees appends made after opening
  EXPECT_EQ(env->NewRandomAccessFile(dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(env->DeleteFile(path).ok());
}

TEST(PosixEnvTest, AppendAndPositionalRead) {
  const std::string dir = TempDir();
  ExerciseAppendAndRead(Env::Default(), dir);
  ::rmdir(dir.c_str());
}

TEST(MemEnvTest, AppendAndPositionalRead) {
  auto env = NewMemEnv();
  ExerciseAppendAndRead(env.get(), "/mem");
}

TEST(PosixEnvTest, UnixClockIsWallTime) {
  const int64_t now = Env::Default()->NowUnixNanos();
  EXPECT_GT(now, int64_t{1'600'000'000} * 1'000'000'000);  // after 2020
}

TEST(MemEnvTest, UnixClockFollowsTheFakeClock) {
  auto env = NewMemEnv();
  EXPECT_EQ(env->NowUnixNanos(), MemEnv::kMemEnvUnixEpochNanos);
  env->AdvanceClock(42);
  EXPECT_EQ(env->NowUnixNanos(), MemEnv::kMemEnvUnixEpochNanos + 42);
}

TEST(PosixEnvTest, Files) {
  const std::string dir = TempDir();
  ExerciseFiles(Env::Default(), dir);
  ::rmdir(dir.c_str());
}

TEST(PosixEnvTest, CreateDirsMakesParents) {
  const std::string dir = TempDir();
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(dir + "/x/y").ok());
  ASSERT_TRUE(env->CreateDirs(dir + "/x/y").ok());  // idempotent
  ASSERT_TRUE(env->WriteFileAtomically(dir + "/x/y/f", "1").ok());
  ASSERT_TRUE(env->DeleteFile(dir + "/x/y/f").ok());
  ::rmdir((dir + "/x/y").c_str());
  ::rmdir((dir + "/x").c_str());
  ::rmdir(dir.c_str());
}

TEST(PosixEnvTest, MapEmptyFileAndClock) {
  const std::string dir = TempDir();
  Env* env = Env::Default();
  ASSERT_TRUE(env->WriteFileAtomically(dir + "/empty", "").ok());
  auto mapped = env->MapFile(dir + "/empty");
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE((*mapped)->bytes().empty());
  EXPECT_EQ(env->MapFile(dir).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(env->DeleteFile(dir + "/empty").ok());
  ::rmdir(dir.c_str());
  const int64_t before = env->NowNanos();
  env->SleepForNanos(1000000);
  EXPECT_GE(env->NowNanos() - before, 1000000);
}

TEST(MemEnvTest, FilesAndFakeClock) {
  auto env = NewMemEnv();
  ExerciseFiles(env.get(), "/mem");
  EXPECT_EQ(env->NowNanos(), 0);
  env->AdvanceClock(5);
  env->SleepForNanos(10);
  EXPECT_EQ(env->NowNanos(), 15);
}

TEST(MemEnvTest, MappingOutlivesDelete) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->WriteFileAtomically("/f", "data").ok());
  auto mapped = env->MapFile("/f");
  ASSERT_TRUE(mapped.ok());
  ASSERT_TRUE(env->DeleteFile("/f").ok());
  EXPECT_EQ((*mapped)->bytes().size(), 4u);
}

}  // namespace
}  // namespace gqa
