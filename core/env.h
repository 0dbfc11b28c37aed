// Env: the injected window onto files and the clock (LevelDB's Env). Library
// code never calls open()/mmap()/clock_gettime() directly, so tests can swap in
// NewMemEnv() (in-memory files) and a fake clock.
// Env implementations are thread-safe.
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

  // Monotonic time, for durations and deadlines.
  virtual int64_t NowNanos() = 0;
  virtual void SleepForNanos(int64_t duration_ns) = 0;
};

// An Env whose files live in memory and whose clock moves only through
// AdvanceClock()/SleepForNanos() (LevelDB's memenv). Thread-safe.
class MemEnv : public Env {
 public:
  virtual void AdvanceClock(int64_t duration_ns) = 0;
};
std::unique_ptr<MemEnv> NewMemEnv();

}  // namespace gqa

#endif  // GQA_CORE_ENV_H_
