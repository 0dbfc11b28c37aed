// Test helpers for the CUDA backend's comparison tests: the backend or a
// GTEST_SKIP when there is no device, an arena of device copies of host
// arrays (AttentionParams included, slot maps and all), and an element-by-
// element comparison with a stated tolerance. Test-only; not thread-safe.
#ifndef GQA_WORKER_BACKEND_CUDA_CUDA_TEST_UTIL_H_
#define GQA_WORKER_BACKEND_CUDA_CUDA_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/backend/cuda/cuda_backend.h"
#include "worker/backend/params.h"

namespace gqa::cuda::test {

// The backend on device 0, or nullptr when there is no device (the caller
// then GTEST_SKIP()s; see GQA_CUDA_BACKEND_OR_SKIP).
std::unique_ptr<CudaBackend> BackendOrNull(std::string* why);

#define GQA_CUDA_BACKEND_OR_SKIP(var)                                              \
  std::string var##_why;                                                           \
  std::unique_ptr<CudaBackend> var = ::gqa::cuda::test::BackendOrNull(&var##_why); \
  if (var == nullptr) GTEST_SKIP() << var##_why

// Device copies of host arrays, freed with the arena.
class DeviceArena {
 public:
  explicit DeviceArena(CudaBackend& backend) : backend_(backend) {}

  void* Copy(const void* host, int64_t bytes);
  template <typename T>
  T* Copy(const std::vector<T>& host) {
    return host.empty() ? nullptr : static_cast<T*>(Copy(host.data(), host.size() * sizeof(T)));
  }
  template <typename T>
  std::vector<T> Read(const T* device, int64_t count) {
    std::vector<T> host(count);
    if (count > 0) {
      EXPECT_TRUE(backend_.CopyToHost(host.data(), device, count * sizeof(T)).ok());
    }
    return host;
  }

  // A device copy of the cache's k, v and scales.
  PagedKvView CopyCache(const PagedKvView& host);
  // A device copy of every array `host` points to (out and column_sums
  // copied too, so unwritten elements keep their poison).
  AttentionParams CopyAttention(const AttentionParams& host);

 private:
  CudaBackend& backend_;
  std::vector<std::unique_ptr<BackendBuffer>> buffers_;
};

// The dtype as a test name: "fp8-e4m3" -> "fp8_e4m3".
std::string DTypeTestName(DType dtype);

// Every element within atol + rtol * |expected|; reports the worst one.
void ExpectAllNear(const std::vector<float>& actual, const std::vector<float>& expected,
                   double atol, double rtol, const std::string& what);

}  // namespace gqa::cuda::test

#endif  // GQA_WORKER_BACKEND_CUDA_CUDA_TEST_UTIL_H_
