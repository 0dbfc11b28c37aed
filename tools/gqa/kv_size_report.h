// Renders `gqa kv-size` results: a table for people (plain or Markdown) and
// JSON for programs. Pure functions from the planned rows to text;
// thread-safe. Field meanings: docs/kv-size.md.
#ifndef GQA_TOOLS_GQA_KV_SIZE_REPORT_H_
#define GQA_TOOLS_GQA_KV_SIZE_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/kv_options.h"
#include "core/kv_size.h"
#include "core/model_config.h"

namespace gqa {

// The model being planned, as named on the command line.
struct PlannedModel {
  std::string label;   // the MODEL argument: preset name, file path or "custom"
  std::string source;  // "preset", "gguf" or "custom"
  std::string note;    // preset note; may be empty
  ModelConfig config;  // as published or read (its own num_kv_heads)
};

// One configuration: a combination of the list flags.
struct KvSizeRow {
  int64_t num_kv_heads = 0;  // as planned (--kv-heads), may differ from the model's
  DType dtype = DType::kBF16;
  KvPolicy policy = KvPolicy::Full();
  KvPlan plan;
  std::optional<int64_t> max_sequences;  // with --mem
};

struct KvSizeReport {
  PlannedModel model;
  std::optional<int64_t> mem_bytes;  // --mem: KV memory per rank
  std::vector<KvSizeRow> rows;
};

// "MHA" (kv == query heads), "MQA" (kv == 1), otherwise "GQA-<kv>".
std::string AttentionName(int64_t num_query_heads, int64_t num_kv_heads);

// The people's view: the model, one row per configuration, a legend, and for
// a single configuration the exact byte breakdown. `markdown` renders the
// table as a Markdown table (for docs and the README).
std::string RenderKvSizeText(const KvSizeReport& report, bool markdown);

// One JSON object for a single row, a JSON array of such objects otherwise;
// ends with a newline.
std::string RenderKvSizeJson(const KvSizeReport& report);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_KV_SIZE_REPORT_H_
