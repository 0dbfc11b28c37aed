// The byte-level pieces of the tensor-parallel step plan's wire format
// (docs/tensor-parallel.md): a little-endian writer and a bounds-checked
// reader of plain values and counted vectors, and the delta of an int32
// vector against a base both ends hold (what changed, as runs, plus the new
// length), which lets a block table or slot map that grew by one entry cost
// one entry. Used only by step_plan.cc and its tests.
#ifndef GQA_WORKER_ENGINE_STEP_PLAN_WIRE_H_
#define GQA_WORKER_ENGINE_STEP_PLAN_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

class PlanWriter {
 public:
  template <typename T>
  void Pod(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  // A u64 count, then the elements.
  template <typename T>
  void Vector(absl::Span<const T> values) {
    static_assert(std::is_trivially_copyable_v<T>);
    Pod<uint64_t>(values.size());
    if (values.empty()) return;
    out_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  size_t size() const { return out_.size(); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Every read fails with INVALID_ARGUMENT ("step plan: message truncated")
// instead of reading past the end; counts are checked against the bytes left.
class PlanReader {
 public:
  explicit PlanReader(absl::string_view in) : in_(in) {}
  template <typename T>
  absl::Status Pod(T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof(T)) return Truncated();
    std::memcpy(&value, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Vector(std::vector<T>& values) {
    uint64_t count = 0;
    if (absl::Status s = Pod(count); !s.ok()) return s;
    return Elements(count, values);
  }
  // `count` elements appended to `values`.
  template <typename T>
  absl::Status Append(uint64_t count, std::vector<T>& values) {
    if (count > in_.size() / sizeof(T)) return Truncated();
    const size_t old = values.size();
    values.resize(old + count);
    if (count == 0) return absl::OkStatus();  // memcpy must not see a null pointer
    std::memcpy(values.data() + old, in_.data(), count * sizeof(T));
    in_.remove_prefix(count * sizeof(T));
    return absl::OkStatus();
  }
  size_t remaining() const { return in_.size(); }
  bool done() const { return in_.empty(); }

 private:
  template <typename T>
  absl::Status Elements(uint64_t count, std::vector<T>& values) {
    values.clear();
    return Append(count, values);
  }
  static absl::Status Truncated() {
    return absl::InvalidArgumentError("step plan: message truncated");
  }
  absl::string_view in_;
};

// Writes what turns `base` into `next`: next's length (u64), the number of
// runs (u64), then each run as (start u64, count u64, values). Runs cover
// every index where next differs from base and every index past base's end;
// runs closer than a few entries are merged.
void WriteVectorDelta(absl::Span<const int32_t> base, absl::Span<const int32_t> next,
                      PlanWriter& w);

// Reads a delta written against `vector` and applies it in place.
// INVALID_ARGUMENT for a truncated delta, runs out of order, overlapping or
// past the new length, or new entries no run covers.
absl::Status ReadVectorDelta(PlanReader& r, std::vector<int32_t>& vector);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_STEP_PLAN_WIRE_H_
