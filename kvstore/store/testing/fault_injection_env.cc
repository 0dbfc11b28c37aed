#include "kvstore/store/testing/fault_injection_env.h"

#include <algorithm>

namespace gqa::kvstore::testing {
namespace {

class FaultyAppendableFile : public AppendableFile {
 public:
  FaultyAppendableFile(FaultInjectionEnv* env, std::unique_ptr<AppendableFile> base)
      : env_(env), base_(std::move(base)) {}

  absl::Status Append(absl::string_view data) override {
    const size_t allowed = env_->ReserveAppend(data.size());
    if (allowed > 0) {
      absl::Status status = base_->Append(data.substr(0, allowed));
      if (!status.ok()) return status;
    }
    if (allowed < data.size()) {
      return absl::ResourceExhaustedError("No space left on device (injected)");
    }
    return absl::OkStatus();
  }
  absl::Status Sync() override { return base_->Sync(); }
  absl::Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  FaultInjectionEnv* env_;
  std::unique_ptr<AppendableFile> base_;
};

}  // namespace

void FaultInjectionEnv::SetDiskFullAfterBytes(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  remaining_bytes_ = std::max<int64_t>(0, bytes);
}

void FaultInjectionEnv::ClearDiskFull() {
  absl::MutexLock lock(&mu_);
  remaining_bytes_ = -1;
}

int64_t FaultInjectionEnv::num_failed_appends() {
  absl::MutexLock lock(&mu_);
  return num_failed_appends_;
}

size_t FaultInjectionEnv::ReserveAppend(size_t n) {
  absl::MutexLock lock(&mu_);
  if (remaining_bytes_ < 0) return n;
  const size_t allowed = std::min<size_t>(n, static_cast<size_t>(remaining_bytes_));
  remaining_bytes_ -= static_cast<int64_t>(allowed);
  if (allowed < n) ++num_failed_appends_;
  return allowed;
}

absl::StatusOr<std::unique_ptr<AppendableFile>> FaultInjectionEnv::NewAppendableFile(
    const std::string& path) {
  absl::StatusOr<std::unique_ptr<AppendableFile>> file = base_->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<AppendableFile>(new FaultyAppendableFile(this, *std::move(file)));
}

}  // namespace gqa::kvstore::testing
