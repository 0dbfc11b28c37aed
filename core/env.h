// Env: the injected window onto files and the clock (LevelDB's Env). Library
// code never calls open()/mmap()/clock_gettime() directly, so tests can swap in
// NewMemEnv() (in-memory files) and a fake clock.
// Env implementations are thread-safe; so is RandomAccessFile. An
// AppendableFile has one writer (thread-compatible).
#ifndef GQA_CORE_ENV_H_
#define GQA_CORE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

// A read-only view of a whole file, mapped or in memory. The bytes stay valid
// for the lifetime of the object.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual absl::Span<const uint8_t> bytes() const = 0;
  virtual const std::string& path() const = 0;
};

// A file written only at its end: log segments (kvstore/store/disk_tier.h).
class AppendableFile {
 public:
  virtual ~AppendableFile() = default;
  // Appends `data`. On failure a prefix of `data` may have reached the file
  // (Size() counts it): RESOURCE_EXHAUSTED when the disk is full (ENOSPC,
  // EDQUOT), FAILED_PRECONDITION after Close(), INTERNAL for other errors.
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes the appended bytes durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // Closes the file; the destructor closes it too. Idempotent.
  virtual absl::Status Close() = 0;
  // Bytes in the file: its size when opened plus every byte appended since.
  virtual uint64_t Size() const = 0;
};

// A file read at byte offsets (pread). Thread-safe.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Up to `n` bytes from `offset`; fewer only at the end of the file (none
  // at or past it). INTERNAL on an I/O error.
  virtual absl::StatusOr<std::string> Read(uint64_t offset, size_t n) const = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX environment (real files, CLOCK_MONOTONIC). Stateless; never
  // deleted.
  static Env* Default();

  // Whole-file read. NOT_FOUND when missing, PERMISSION_DENIED, or INTERNAL
  // for other I/O errors; the message names the path.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;

  // Maps `path` read-only (an empty file gives an empty span).
  virtual absl::StatusOr<std::unique_ptr<MappedFile>> MapFile(const std::string& path) = 0;

  // Writes `data` to a temporary file beside `path`, syncs and renames it over
  // `path`, so readers see the old or the new contents, never a torn file.
  virtual absl::Status WriteFileAtomically(const std::string& path, absl::string_view data) = 0;

  virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  // Creates `path` and its missing parents; OK when it already exists.
  virtual absl::Status CreateDirs(const std::string& path) = 0;
  // Names of the entries of directory `path` (not "." or "..").
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;

  // Opens `path` for appending, creating it (mode 0644) when missing; existing
  // bytes are kept. Errors as ReadFile's.
  virtual absl::StatusOr<std::unique_ptr<AppendableFile>> NewAppendableFile(
      const std::string& path) = 0;
  // Opens `path` for positional reads. Errors as ReadFile's.
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Monotonic time, for durations and deadlines.
  virtual int64_t NowNanos() = 0;
  // Wall-clock time, nanoseconds since the Unix epoch (CLOCK_REALTIME), for
  // timestamps that outlive the process (expiry times on disk). May jump.
  virtual int64_t NowUnixNanos() = 0;
  virtual void SleepForNanos(int64_t duration_ns) = 0;
};

// An Env whose files live in memory and whose clock moves only through
// AdvanceClock()/SleepForNanos() (LevelDB's memenv). NowUnixNanos() is
// kMemEnvUnixEpochNanos + NowNanos(). Appending to a deleted file fails
// NOT_FOUND (POSIX would write to the unlinked inode). Thread-safe.
class MemEnv : public Env {
 public:
  static constexpr int64_t kMemEnvUnixEpochNanos = 1'700'000'000'000'000'000;  // 2023-11-14
  virtual void AdvanceClock(int64_t duration_ns) = 0;
};
std::unique_ptr<MemEnv> NewMemEnv();

}  // namespace gqa

#endif  // GQA_CORE_ENV_H_
