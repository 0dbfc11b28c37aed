// The --backend flag of the commands that run a model in this process
// (gqa generate, gqa-worker): which Backend runs the model and holds its KV
// cache. Thread-compatible.
#ifndef GQA_TOOLS_GQA_BACKEND_FLAG_H_
#define GQA_TOOLS_GQA_BACKEND_FLAG_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/backend/backend.h"

namespace gqa {

// "cpu": nullptr (LocalEngine::Load then makes the CPU backend with
// --threads). "cuda": the CUDA backend on GPU 0; UNAVAILABLE ("--backend
// cuda: no CUDA device ...") without a device, UNIMPLEMENTED in a build
// without CUDA. Anything else: INVALID_ARGUMENT naming the value.
absl::StatusOr<std::unique_ptr<Backend>> BackendForFlag(absl::string_view name);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_BACKEND_FLAG_H_
