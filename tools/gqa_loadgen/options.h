// gqa-loadgen's command line: every flag parsed and checked into
// LoadgenOptions before anything connects, so a bad flag fails at once with
// INVALID_ARGUMENT naming it (the binary then exits 2). Also the usage text.
// Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_OPTIONS_H_
#define GQA_TOOLS_GQA_LOADGEN_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tools/gqa_loadgen/arrival_schedule.h"
#include "tools/gqa_loadgen/slo.h"
#include "tools/gqa_loadgen/target_options.h"
#include "tools/gqa_loadgen/workload.h"

namespace gqa::loadgen {

enum class LoopMode {
  kOpen,    // requests leave on an arrival schedule (--rate)
  kClosed,  // a fixed number in flight (--concurrency)
};

struct SweepSpec {
  LoopMode mode = LoopMode::kOpen;  // rate (open) or concurrency (closed)
  std::vector<double> values;       // in the order given
};

enum class ProgressMode { kAuto, kOn, kOff };

struct LoadgenOptions {
  bool help = false;
  // `gqa-loadgen compare A.json B.json`: the two files; empty otherwise.
  std::vector<std::string> compare_paths;

  TargetOptions target;
  RequestSettings settings;

  LoopMode mode = LoopMode::kOpen;
  ArrivalOptions arrival;      // open loop; rate_per_s from --rate
  int64_t concurrency = 1;     // closed loop
  std::optional<SweepSpec> sweep;
  std::optional<int64_t> num_requests;  // measured requests
  std::optional<double> duration_s;     // or measured seconds
  int64_t warmup_requests = 0;

  LengthSpec input;
  LengthSpec output;
  std::optional<SharedPrefixSpec> shared_prefix;
  PromptFormat prompt_format = PromptFormat::kTokenIds;
  std::string dataset_path;
  uint64_t seed = 0;

  Slo slo;
  std::string json_path;
  std::string csv_path;
  std::string plot_dir;
  std::string label;  // names the run in the JSON and in compare
  ProgressMode progress = ProgressMode::kAuto;

  bool quality = false;
  int64_t quality_prompts = 16;
  int64_t quality_concurrency = 4;
  std::optional<DType> reference_kv_dtype;
};

// Parses the words after the program name. INVALID_ARGUMENT naming the flag
// for an unknown flag, a bad value, a missing required flag or flags that do
// not go together.
absl::StatusOr<LoadgenOptions> ParseLoadgenOptions(absl::Span<const char* const> args);

extern const char kLoadgenUsage[];

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_OPTIONS_H_
