// MemEnv: files in a map, a clock that only moves when told. For tests.
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "core/status.h"

namespace gqa {
namespace {

class MemMappedFile : public MappedFile {
 public:
  MemMappedFile(std::string path, std::shared_ptr<const std::string> data)
      : path_(std::move(path)), data_(std::move(data)) {}
  absl::Span<const uint8_t> bytes() const override {
    return {reinterpret_cast<const uint8_t*>(data_->data()), data_->size()};
  }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  std::shared_ptr<const std::string> data_;  // shared so a mapping outlives a delete
};

class MemEnvImpl;

// Appends through the env, looking the file up by path each time.
// REQUIRES: the env outlives the file (as for every MemEnv handle).
class MemAppendableFile : public AppendableFile {
 public:
  MemAppendableFile(MemEnvImpl* env, std::string path, uint64_t size)
      : env_(env), path_(std::move(path)), size_(size) {}
  absl::Status Append(absl::string_view data) override;
  absl::Status Sync() override {
    if (closed_) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
    return absl::OkStatus();
  }
  absl::Status Close() override {
    closed_ = true;
    return absl::OkStatus();
  }
  uint64_t Size() const override { return size_; }

 private:
  MemEnvImpl* env_;
  std::string path_;
  uint64_t size_;
  bool closed_ = false;
};

class MemRandomAccessFile : public RandomAccessFile {
 public:
  MemRandomAccessFile(MemEnvImpl* env, std::string path) : env_(env), path_(std::move(path)) {}
  absl::StatusOr<std::string> Read(uint64_t offset, size_t n) const override;

 private:
  MemEnvImpl* env_;
  std::string path_;
};

class MemEnvImpl : public MemEnv {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path);
    return *it->second;
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> MapFile(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path);
    return std::make_unique<MemMappedFile>(path, it->second);
  }

  absl::Status WriteFileAtomically(const std::string& path, absl::string_view data) override {
    absl::MutexLock lock(&mu_);
    files_[path] = std::make_shared<std::string>(data);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path);
    return it->second->size();
  }

  bool FileExists(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    return files_.count(path) > 0 || dirs_.count(path) > 0;
  }

  absl::Status DeleteFile(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    if (files_.erase(path) == 0) return NotFound(path);
    return absl::OkStatus();
  }

  absl::Status CreateDirs(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    dirs_[path] = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    absl::MutexLock lock(&mu_);
    const std::string prefix = absl::StrCat(path, "/");
    std::vector<std::string> names;
    for (const auto& [name, unused] : files_) {
      if (absl::StartsWith(name, prefix) && name.find('/', prefix.size()) == std::string::npos) {
        names.push_back(name.substr(prefix.size()));
      }
    }
    return names;
  }

  absl::StatusOr<std::unique_ptr<AppendableFile>> NewAppendableFile(
      const std::string& path) override {
    absl::MutexLock lock(&mu_);
    auto& file = files_[path];
    if (file == nullptr) file = std::make_shared<std::string>();
    return std::make_unique<MemAppendableFile>(this, path, file->size());
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    absl::MutexLock lock(&mu_);
    if (files_.count(path) == 0) return NotFound(path);
    return std::make_unique<MemRandomAccessFile>(this, path);
  }

  // Appends to the file at `path`. NOTE: a MappedFile shares the string, so a
  // mapped file is copied first (copy-on-write) and the mapping keeps its
  // snapshot; unmapped files grow in place.
  absl::Status AppendToFile(const std::string& path, absl::string_view data) {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path);
    // use_count only rises under mu_ (MapFile), so 1 here means unshared.
    if (it->second.use_count() > 1) it->second = std::make_shared<std::string>(*it->second);
    it->second->append(data.data(), data.size());
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadFileRange(const std::string& path, uint64_t offset, size_t n) {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return NotFound(path);
    const std::string& data = *it->second;
    if (offset >= data.size()) return std::string();
    return data.substr(static_cast<size_t>(offset), n);
  }

  int64_t NowNanos() override {
    absl::MutexLock lock(&mu_);
    return now_ns_;
  }
  int64_t NowUnixNanos() override { return kMemEnvUnixEpochNanos + NowNanos(); }
  void SleepForNanos(int64_t duration_ns) override { AdvanceClock(duration_ns); }
  void AdvanceClock(int64_t duration_ns) override {
    absl::MutexLock lock(&mu_);
    if (duration_ns > 0) now_ns_ += duration_ns;
  }

 private:
  static absl::Status NotFound(const std::string& path) {
    return absl::NotFoundError(absl::StrCat("no such file: ", path));
  }

  absl::Mutex mu_;
  // Shared with MappedFiles (as const); see AppendToFile.
  std::map<std::string, std::shared_ptr<std::string>> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> dirs_ ABSL_GUARDED_BY(mu_);
  int64_t now_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::Status MemAppendableFile::Append(absl::string_view data) {
  if (closed_) return absl::FailedPreconditionError(absl::StrCat(path_, " is closed"));
  RETURN_IF_ERROR(env_->AppendToFile(path_, data));
  size_ += data.size();
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemRandomAccessFile::Read(uint64_t offset, size_t n) const {
  return env_->ReadFileRange(path_, offset, n);
}

}  // namespace

std::unique_ptr<MemEnv> NewMemEnv() { return std::make_unique<MemEnvImpl>(); }

}  // namespace gqa
