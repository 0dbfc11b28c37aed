// TinyEngine: a tiny random model (tiny_model.h) loaded on the CPU backend
// with a paged KV cache, ready for the offline generator or the scheduler.
// Test-only; setup failures CHECK-fail.
#ifndef GQA_WORKER_ENGINE_TESTING_TINY_ENGINE_H_
#define GQA_WORKER_ENGINE_TESTING_TINY_ENGINE_H_

#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "core/kv_options.h"
#include "worker/backend/backend.h"
#include "worker/engine/model.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

struct TinyEngineOptions {
  int64_t num_query_heads = 4;
  int64_t num_kv_heads = 2;
  uint32_t seed = 99;
  DType kv_dtype = DType::kF32;
  int64_t block_size = 4;
  int64_t kv_budget_bytes = int64_t{1} << 20;
  int num_threads = 2;
  // The CPU backend behind a DeviceLikeBackend (device_like_backend.h): the
  // engine's device code path, checked on the CPU.
  bool device_like = false;
  ModelOptions model_options = {};
};

struct TinyEngine {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<KvCacheStorage> storage;
  const MemoryTensorSource* source = nullptr;  // owned by the model
};

TinyEngine MakeTinyEngine(const TinyEngineOptions& options);

// Every KV policy in turn, sized for tiny pools: full, streaming:2+6,
// h2o:3+5, window:7 for i % 4 = 0, 1, 2, 3.
KvPolicy TinyPolicyCycle(int i);

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TESTING_TINY_ENGINE_H_
