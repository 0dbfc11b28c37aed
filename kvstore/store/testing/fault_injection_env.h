// Test-only: an Env that forwards to another and can fail appends the way a
// full disk does (ENOSPC: the bytes that still fit are written, then
// RESOURCE_EXHAUSTED), until the fault is cleared. Thread-safe.
#ifndef GQA_KVSTORE_STORE_TESTING_FAULT_INJECTION_ENV_H_
#define GQA_KVSTORE_STORE_TESTING_FAULT_INJECTION_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"

namespace gqa::kvstore::testing {

class FaultInjectionEnv : public Env {
 public:
  // REQUIRES: `base` outlives this Env and every file it opens.
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  // From now on appends (through any file) may write `bytes` more in total;
  // the append that crosses the limit writes what fits and fails.
  void SetDiskFullAfterBytes(int64_t bytes);
  // Space is free again.
  void ClearDiskFull();
  int64_t num_failed_appends();

  // Called by the files: how many of `n` bytes may be written now, and
  // whether that is all of them.
  size_t ReserveAppend(size_t n);

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return base_->ReadFile(path);
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> MapFile(const std::string& path) override {
    return base_->MapFile(path);
  }
  absl::Status WriteFileAtomically(const std::string& path, absl::string_view data) override {
    return base_->WriteFileAtomically(path, data);
  }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  absl::Status DeleteFile(const std::string& path) override { return base_->DeleteFile(path); }
  absl::Status CreateDirs(const std::string& path) override { return base_->CreateDirs(path); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  absl::StatusOr<std::unique_ptr<AppendableFile>> NewAppendableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  int64_t NowNanos() override { return base_->NowNanos(); }
  int64_t NowUnixNanos() override { return base_->NowUnixNanos(); }
  void SleepForNanos(int64_t duration_ns) override { base_->SleepForNanos(duration_ns); }

 private:
  Env* const base_;
  absl::Mutex mu_;
  int64_t remaining_bytes_ ABSL_GUARDED_BY(mu_) = -1;  // -1: no limit
  int64_t num_failed_appends_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gqa::kvstore::testing

#endif  // GQA_KVSTORE_STORE_TESTING_FAULT_INJECTION_ENV_H_
