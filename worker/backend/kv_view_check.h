// ValidatePagedKvView: the checks every backend makes on a PagedKvView
// before writing or copying KV (a known dtype, a positive shape, FP8 scale
// arrays present). Shared by the CPU and CUDA backends. Thread-safe.
#ifndef GQA_WORKER_BACKEND_KV_VIEW_CHECK_H_
#define GQA_WORKER_BACKEND_KV_VIEW_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "worker/backend/params.h"

namespace gqa {

// INVALID_ARGUMENT naming `op` and what is wrong with `cache`.
absl::Status ValidatePagedKvView(const PagedKvView& cache, absl::string_view op);

}  // namespace gqa

#endif  // GQA_WORKER_BACKEND_KV_VIEW_CHECK_H_
