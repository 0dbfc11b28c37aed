#include "worker/engine/testing/tiny_engine.h"

#include "core/log.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/testing/device_like_backend.h"

namespace gqa {

TinyEngine MakeTinyEngine(const TinyEngineOptions& options) {
  TinyEngine e;
  e.backend = MakeCpuBackend({.num_threads = options.num_threads});
  if (options.device_like) e.backend = MakeDeviceLikeBackend(std::move(e.backend));
  auto source =
      MakeTinyModel(TinyConfig(options.num_query_heads, options.num_kv_heads), options.seed);
  e.source = source.get();
  const ModelConfig config = source->config();
  absl::StatusOr<ShardPlan> plan = ShardPlan::Make(config, 1, 0);
  CHECK(plan.ok()) << plan.status();
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Create(std::move(source), *plan, e.backend.get(), nullptr, options.model_options);
  CHECK(model.ok()) << model.status();
  e.model = std::move(*model);
  absl::StatusOr<std::unique_ptr<KvCacheStorage>> storage = KvCacheStorage::Create(
      e.backend.get(), config, *plan,
      {options.kv_dtype, options.block_size, options.kv_budget_bytes});
  CHECK(storage.ok()) << storage.status();
  e.storage = std::move(*storage);
  return e;
}

KvPolicy TinyPolicyCycle(int i) {
  const KvPolicy policies[] = {KvPolicy::Full(), KvPolicy::Streaming(2, 6), KvPolicy::H2o(3, 5),
                               KvPolicy::Window(7)};
  return policies[i % 4];
}

}  // namespace gqa
