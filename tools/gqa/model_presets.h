// Named model shapes for the planner (`gqa kv-size llama-2-70b`): published
// configurations of well-known decoders, so KV memory can be planned without
// the weights. Read-only data built once; thread-safe.
#ifndef GQA_TOOLS_GQA_MODEL_PRESETS_H_
#define GQA_TOOLS_GQA_MODEL_PRESETS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/model_config.h"

namespace gqa {

struct ModelPreset {
  std::string name;    // the planner's spelling, e.g. "llama-2-70b"
  std::string source;  // where the numbers come from (the published config)
  std::string note;    // what a planner user should know; may be empty
  ModelConfig config;
};

// Every preset, in a fixed order (families, then size).
const std::vector<ModelPreset>& ModelPresets();

// The preset called `name` (exact, lower case); nullptr when there is none.
const ModelPreset* FindModelPreset(absl::string_view name);

// "llama-2-7b, llama-2-70b, ..." for messages and help.
std::string ModelPresetNames();

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_MODEL_PRESETS_H_
