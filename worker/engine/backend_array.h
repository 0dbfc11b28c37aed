// BackendArray: a grow-only array of floats in a backend's memory, for the
// model's step activations (reused across steps, reallocated only when a
// step needs more; contents are not kept across a growth). Move-only;
// thread-compatible.
#ifndef GQA_WORKER_ENGINE_BACKEND_ARRAY_H_
#define GQA_WORKER_ENGINE_BACKEND_ARRAY_H_

#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "worker/backend/backend.h"

namespace gqa {

class BackendArray {
 public:
  // At least n floats; RESOURCE_EXHAUSTED when the backend has no room.
  absl::StatusOr<float*> Reserve(Backend& backend, int64_t n) {
    if (buffer_ == nullptr || buffer_->size_bytes() < n * 4) {
      const int64_t have = buffer_ == nullptr ? 0 : buffer_->size_bytes() / 4;
      buffer_.reset();  // the old memory goes back before the new is taken
      absl::StatusOr<std::unique_ptr<BackendBuffer>> grown =
          backend.Allocate(4 * std::max<int64_t>({n, have + have / 2, 16}));
      if (!grown.ok()) return grown.status();
      buffer_ = std::move(*grown);
      ++generation_;
    }
    return static_cast<float*>(buffer_->data());
  }
  // How many times the memory was replaced (captured steps point at it).
  int64_t generation() const { return generation_; }

 private:
  std::unique_ptr<BackendBuffer> buffer_;
  int64_t generation_ = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_BACKEND_ARRAY_H_
