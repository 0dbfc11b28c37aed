// DeviceLikeBackend: the CPU backend dressed as a device backend, for tests
// of the engine's device code path on machines without a GPU. It says its
// memory is not the host's (so the model copies its weights and each step's
// arrays into it, as on CUDA) and refuses, with FAILED_PRECONDITION naming the
// op, any op whose pointers are not inside memory it allocated: a host pointer
// that would reach a GPU kernel fails here instead. Results are the CPU
// backend's, so they must equal a plain CPU run bit for bit. Test-only;
// thread-compatible.
#ifndef GQA_WORKER_ENGINE_TESTING_DEVICE_LIKE_BACKEND_H_
#define GQA_WORKER_ENGINE_TESTING_DEVICE_LIKE_BACKEND_H_

#include <memory>

#include "worker/backend/backend.h"

namespace gqa {

// Wraps `inner` (host memory); ops run on it after the pointer checks.
std::unique_ptr<Backend> MakeDeviceLikeBackend(std::unique_ptr<Backend> inner);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TESTING_DEVICE_LIKE_BACKEND_H_
