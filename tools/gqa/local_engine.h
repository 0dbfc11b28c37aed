// LocalEngine: everything `gqa generate`, `gqa chat` and `gqa perplexity`
// need to run a model in this process: the model on a backend (the CPU's by default), its
// tokenizer and chat template from the same file, and a KV cache sized by a
// byte budget. Also the shared flags (--model, --threads, --kv-bytes,
// --kv-dtype, --kv-policy) and the default model path. Thread-compatible.
#ifndef GQA_TOOLS_GQA_LOCAL_ENGINE_H_
#define GQA_TOOLS_GQA_LOCAL_ENGINE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/kv_options.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "tools/gqa/command_line.h"
#include "worker/backend/backend.h"
#include "worker/engine/model.h"
#include "worker/engine/offline_generator.h"
#include "worker/kv/kv_cache_storage.h"

namespace gqa {

// The flags LocalEngine::Load reads; commands append their own.
inline constexpr FlagSpec kLocalEngineFlags[] = {
    {"model"}, {"threads"}, {"kv-bytes"}, {"kv-dtype"}, {"kv-policy"}};

inline constexpr char kLocalEngineUsage[] =
    R"(  --model M         a GGUF file, or a Hugging Face directory (config.json,
                    *.safetensors, tokenizer.json); default: the default model fetched by
                    scripts/setup.sh ($GQA_CACHE_DIR or ~/.cache/gqaserve)
  --threads N       CPU threads; default: the cores of this machine
  --kv-bytes B      KV cache budget (e.g. 512MiB); default 256MiB
  --kv-dtype D      KV cache storage: f32|f16|bf16|fp8-e4m3|fp8-e5m2; default f32
                    (FP8 stores a 4-byte scale per token and KV head beside K and V)
  --kv-policy P     full|streaming:S+W|h2o:H+R|window:W (docs/kv-cache.md); default full.
                    The bounded policies keep a constant cache and may run past the
                    trained context
)";

// ~/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf, honouring
// $GQA_CACHE_DIR. Read here, in the tool, never in library code.
std::string DefaultModelPath();

// The exit status a command gives for a LocalEngine::Load error: 2 for a bad
// flag value (its message starts with the flag, "--threads ..."), 1 for a
// model that cannot be loaded (its message names the path).
int LoadErrorExitCode(const absl::Status& status);

class LocalEngine {
 public:
  // INVALID_ARGUMENT naming the flag for bad values; errors of the model file.
  // With `comm` (a tensor-parallel group of comm->size() ranks) this loads
  // rank comm->rank()'s shard; an invalid tp is refused before any weight loads.
  // `backend` (e.g. a CudaBackend) runs the model and holds the KV cache;
  // null: the CPU backend with --threads threads.
  static absl::StatusOr<std::unique_ptr<LocalEngine>> Load(const CommandLine& flags,
                                                           Communicator* comm = nullptr,
                                                           std::unique_ptr<Backend> backend = nullptr);

  Model& model() { return *model_; }
  Backend& backend() { return *backend_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // nullopt (with the reason) when the file's chat template is not recognised.
  const absl::StatusOr<ChatTemplate>& chat_template() const { return chat_template_; }
  OfflineGenerator& generator() { return *generator_; }
  KvCacheStorage& storage() { return *storage_; }
  const KvPolicy& kv_policy() const { return kv_policy_; }
  DType kv_dtype() const { return storage_->dtype(); }
  int num_threads() const { return num_threads_; }

 private:
  LocalEngine() = default;

  int num_threads_ = 1;
  KvPolicy kv_policy_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  absl::StatusOr<ChatTemplate> chat_template_ = absl::UnknownError("not loaded");
  std::unique_ptr<KvCacheStorage> storage_;
  std::unique_ptr<OfflineGenerator> generator_;
};

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_LOCAL_ENGINE_H_
