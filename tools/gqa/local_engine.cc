#include "tools/gqa/local_engine.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/status.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cpu/thread_pool.h"
#include "worker/engine/model_file.h"
#include "worker/parallel/shard_plan.h"

namespace gqa {

std::string DefaultModelPath() {
  const char* cache = std::getenv("GQA_CACHE_DIR");
  const char* home = std::getenv("HOME");
  const std::string dir = cache != nullptr ? std::string(cache)
                                           : absl::StrCat(home != nullptr ? home : "", "/.cache/gqaserve");
  return absl::StrCat(dir, "/models/SmolLM2-135M-Instruct.Q4_1.gguf");
}

int LoadErrorExitCode(const absl::Status& status) {
  const bool bad_flag = status.code() == absl::StatusCode::kInvalidArgument &&
                        absl::StartsWith(status.message(), "--");
  return bad_flag ? 2 : 1;
}

absl::StatusOr<std::unique_ptr<LocalEngine>> LocalEngine::Load(const CommandLine& flags,
                                                               Communicator* comm,
                                                               std::unique_ptr<Backend> backend) {
  auto engine = std::unique_ptr<LocalEngine>(new LocalEngine());
  const std::string path = flags.Value("model").value_or(DefaultModelPath());
  engine->num_threads_ = DefaultThreadCount(1);
  if (auto threads = flags.Value("threads")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--threads", *threads));
    if (n > 1024) return absl::InvalidArgumentError("--threads must be at most 1024");
    engine->num_threads_ = static_cast<int>(n);
  }
  KvCacheOptions kv;
  kv.dtype = DType::kF32;
  if (auto bytes = flags.Value("kv-bytes")) {
    ASSIGN_OR_RETURN(kv.budget_bytes, ParseByteSize("--kv-bytes", *bytes));
  }
  if (auto dtype = flags.Value("kv-dtype")) {
    ASSIGN_OR_RETURN(kv.dtype, ParseKvDType(*dtype));
  }
  if (auto policy = flags.Value("kv-policy")) {
    ASSIGN_OR_RETURN(engine->kv_policy_, ParseKvPolicy(*policy));
  }

  Env* env = Env::Default();
  ASSIGN_OR_RETURN(ModelFile file, OpenModelFile(env, path));
  engine->tokenizer_ = std::move(file.tokenizer);
  engine->chat_template_ = std::move(file.chat_template);
  std::unique_ptr<TensorSource> source = std::move(file.source);
  const ModelConfig config = source->config();
  ASSIGN_OR_RETURN(ShardPlan plan, ShardPlan::Make(config, comm != nullptr ? comm->size() : 1,
                                                   comm != nullptr ? comm->rank() : 0));
  engine->backend_ = backend != nullptr ? std::move(backend)
                                        : MakeCpuBackend({.num_threads = engine->num_threads_});
  ASSIGN_OR_RETURN(engine->model_, Model::Create(std::move(source), plan, engine->backend_.get(), comm));
  ASSIGN_OR_RETURN(engine->storage_,
                   KvCacheStorage::Create(engine->backend_.get(), config, plan, kv));
  engine->generator_ =
      std::make_unique<OfflineGenerator>(engine->model_.get(), engine->storage_.get(), env);
  return engine;
}

}  // namespace gqa
