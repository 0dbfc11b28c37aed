#include "tools/gqa/backend_flag.h"

#include "absl/strings/str_cat.h"

#ifdef GQA_HAVE_CUDA_BACKEND
#include "worker/backend/cuda/cuda_backend.h"
#endif

namespace gqa {

absl::StatusOr<std::unique_ptr<Backend>> BackendForFlag(absl::string_view name) {
  if (name == "cpu") return std::unique_ptr<Backend>();
  if (name != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend ", name, ": expected cpu or cuda"));
  }
#ifdef GQA_HAVE_CUDA_BACKEND
  absl::StatusOr<std::unique_ptr<CudaBackend>> backend = MakeCudaBackend({});
  if (!backend.ok()) {
    return absl::UnavailableError(absl::StrCat("--backend cuda: ", backend.status().message()));
  }
  return std::unique_ptr<Backend>(std::move(*backend));
#else
  return absl::UnimplementedError(
      "--backend cuda: this build has no CUDA backend (configure with nvcc and GQA_WITH_CUDA=ON)");
#endif
}

}  // namespace gqa
