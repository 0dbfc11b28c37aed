// MemEnv: files in a map, a clock that only moves when told. For tests.
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"

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
    files_[path] = std::make_shared<const std::string>(data);
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

  int64_t NowNanos() override {
    absl::MutexLock lock(&mu_);
    return now_ns_;
  }
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
  std::map<std::string, std::shared_ptr<const std::string>> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> dirs_ ABSL_GUARDED_BY(mu_);
  int64_t now_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<MemEnv> NewMemEnv() { return std::make_unique<MemEnvImpl>(); }

}  // namespace gqa
