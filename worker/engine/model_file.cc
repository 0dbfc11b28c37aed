#include "worker/engine/model_file.h"

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "core/status.h"
#include "core/tokenizer/gguf_tokenizer.h"
#include "core/tokenizer/hf_tokenizer_json.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/hf_tensor_source.h"

namespace gqa {

absl::StatusOr<ModelFile> OpenModelFile(Env* env, const std::string& path) {
  ModelFile file;
  file.name = ModelNameFromPath(path);
  if (env->FileExists(path + "/config.json")) {
    ASSIGN_OR_RETURN(file.source, OpenHfTensorSource(env, path));
    ASSIGN_OR_RETURN(file.tokenizer, LoadHfTokenizer(env, path));
  } else {
    ASSIGN_OR_RETURN(file.source, OpenGgufTensorSource(env, path));
    ASSIGN_OR_RETURN(file.tokenizer, LoadGgufTokenizer(env, path));
  }
  file.chat_template = ChatTemplate::FromTokenizer(*file.tokenizer);
  return file;
}

std::string ModelNameFromPath(const std::string& path) {
  absl::string_view name = path;
  while (absl::ConsumeSuffix(&name, "/")) {
  }
  if (const size_t slash = name.rfind('/'); slash != absl::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  absl::ConsumeSuffix(&name, ".gguf");
  return std::string(name);
}

}  // namespace gqa
