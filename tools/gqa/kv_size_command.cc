#include "tools/gqa/kv_size_command.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/env.h"
#include "core/gguf/gguf_model_config.h"
#include "core/kv_options.h"
#include "core/kv_size.h"
#include "core/status.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/kv_size_report.h"
#include "tools/gqa/model_presets.h"

namespace gqa {
namespace {

constexpr FlagSpec kFlags[] = {
    {"kv-heads"},    {"ctx"},      {"kv-dtype"},    {"kv-policy"},         {"tp"},
    {"block-size"},  {"mem"},      {"json", false}, {"markdown", false},   {"layers"},
    {"query-heads"}, {"head-dim"}, {"hidden-size"}, {"intermediate-size"}, {"vocab-size"},
};
// Shape flags that describe MODEL custom; presets and GGUF files give their own.
constexpr absl::string_view kCustomFlags[] = {"layers",      "query-heads",       "head-dim",
                                              "hidden-size", "intermediate-size", "vocab-size"};
// More rows than this is a typo, not a plan.
constexpr size_t kMaxRows = 4096;

constexpr char kUsage[] =
    R"(usage: gqa kv-size MODEL [flags]

Plans the KV cache memory of MODEL: per token, per sequence, per tensor-parallel
rank, and how many sequences fit in a memory budget.
  KV bytes = layers x kv_heads x 2 (K and V) x tokens x head_dim x bytes_per_element
plus FP8 scales (one f32 per token, per KV head, for K and for V) and padding to
whole blocks. docs/kv-size.md explains every figure.

MODEL is one of
  a preset     %PRESETS%
  a GGUF file  its metadata gives the shape
  custom       a shape from --layers, --query-heads, --kv-heads, --head-dim and --ctx
               (optional: --hidden-size, --intermediate-size, --vocab-size, which
               enable the tensor-parallel MLP and vocabulary checks)

Flags take a value as --flag V or --flag=V. [list]: comma-separated values,
one row per combination.
  --kv-heads G      re-plan with G KV heads: the query heads (MHA), a  [list]
                    divisor (GQA) or 1 (MQA); default: the model's
  --ctx N           tokens per sequence (prompt + generated); default: [list]
                    the model's trained context
  --kv-dtype D      f32|f16|bf16|fp8-e4m3|fp8-e5m2; default bf16       [list]
  --kv-policy P     full|streaming:S+W|streaming:W|h2o:H+R|window:W;   [list]
                    default full (streaming:W means streaming:4+W)
  --tp N            tensor-parallel ranks; default 1                   [list]
  --block-size B    tokens per KV block; default 16
  --mem BYTES       KV memory per rank, e.g. 80GiB (binary), 80GB (decimal) or
                    plain bytes: adds how many sequences fit
  --json            print JSON: one object, or an array of them with lists
  --markdown        print the table as Markdown
  -h, --help        print this text

Exit status: 0 done, 2 bad arguments (the message names the flag), 1 other
failures.
)";

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<int64_t> RequiredInt(const CommandLine& line, absl::string_view flag) {
  std::optional<std::string> value = line.Value(flag);
  if (!value.has_value()) {
    return Usage(absl::StrCat("MODEL custom needs --", flag,
                              " (and --layers, --query-heads, --kv-heads, --head-dim, --ctx)"));
  }
  return ParsePositiveInt(absl::StrCat("--", flag), *value);
}

absl::StatusOr<int64_t> OptionalInt(const CommandLine& line, absl::string_view flag,
                                    int64_t fallback) {
  std::optional<std::string> value = line.Value(flag);
  if (!value.has_value()) return fallback;
  return ParsePositiveInt(absl::StrCat("--", flag), *value);
}

absl::StatusOr<ModelConfig> CustomModel(const CommandLine& line) {
  ModelConfig config;
  config.architecture = "custom";
  ASSIGN_OR_RETURN(config.num_layers, RequiredInt(line, "layers"));
  ASSIGN_OR_RETURN(config.num_query_heads, RequiredInt(line, "query-heads"));
  ASSIGN_OR_RETURN(config.head_dim, RequiredInt(line, "head-dim"));
  if (!line.Has("kv-heads")) return RequiredInt(line, "kv-heads").status();
  if (!line.Has("ctx")) return RequiredInt(line, "ctx").status();
  // The first --kv-heads and --ctx values stand for the model's own.
  ASSIGN_OR_RETURN(std::vector<std::string> kv_heads,
                   SplitList("--kv-heads", *line.Value("kv-heads")));
  ASSIGN_OR_RETURN(config.num_kv_heads, ParsePositiveInt("--kv-heads", kv_heads.front()));
  ASSIGN_OR_RETURN(std::vector<std::string> ctx, SplitList("--ctx", *line.Value("ctx")));
  ASSIGN_OR_RETURN(config.context_tokens, ParsePositiveInt("--ctx", ctx.front()));
  int64_t query_width = 0;  // informational only; 0 (unknown) if it overflows
  if (__builtin_mul_overflow(config.num_query_heads, config.head_dim, &query_width)) {
    query_width = 0;
  }
  ASSIGN_OR_RETURN(config.hidden_size, OptionalInt(line, "hidden-size", query_width));
  ASSIGN_OR_RETURN(config.intermediate_size, OptionalInt(line, "intermediate-size", 0));
  ASSIGN_OR_RETURN(config.vocab_size, OptionalInt(line, "vocab-size", 0));
  return config;
}

absl::StatusOr<PlannedModel> ResolveModel(const std::string& arg, const CommandLine& line) {
  PlannedModel model;
  model.label = arg;
  if (arg == "custom") {
    model.source = "custom";
    ASSIGN_OR_RETURN(model.config, CustomModel(line));
    return model;
  }
  for (absl::string_view flag : kCustomFlags) {
    if (line.Has(flag)) {
      return Usage(absl::StrCat("--", flag, " describes MODEL custom; '", arg,
                                "' gives its own shape (use --kv-heads to re-plan its KV heads)"));
    }
  }
  if (const ModelPreset* preset = FindModelPreset(arg); preset != nullptr) {
    model.source = "preset";
    model.note = preset->note;
    model.config = preset->config;
    return model;
  }
  Env* env = Env::Default();
  if (!env->FileExists(arg) && !absl::EndsWithIgnoreCase(arg, ".gguf")) {
    return Usage(absl::StrCat("MODEL '", arg, "': not a preset (", ModelPresetNames(),
                              "), 'custom' or a GGUF file"));
  }
  model.source = "gguf";
  absl::StatusOr<ModelConfig> config = ReadGgufModelConfig(env, arg);
  if (!config.ok()) return Annotate(config.status(), absl::StrCat("MODEL '", arg, "'"));
  model.config = *std::move(config);
  return model;
}

// The values of list flag --`flag`, or {fallback} when it is absent.
template <typename T, typename Parse>
absl::StatusOr<std::vector<T>> ListFlag(const CommandLine& line, absl::string_view flag, T fallback,
                                        Parse parse) {
  std::optional<std::string> text = line.Value(flag);
  if (!text.has_value()) return std::vector<T>{fallback};
  ASSIGN_OR_RETURN(std::vector<std::string> items, SplitList(absl::StrCat("--", flag), *text));
  std::vector<T> values;
  for (const std::string& item : items) {
    ASSIGN_OR_RETURN(T value, parse(item));
    values.push_back(std::move(value));
  }
  return values;
}

absl::StatusOr<std::vector<int64_t>> IntListFlag(const CommandLine& line, absl::string_view flag,
                                                 int64_t fallback) {
  const std::string name = absl::StrCat("--", flag);
  return ListFlag<int64_t>(line, flag, fallback,
                           [&](const std::string& item) { return ParsePositiveInt(name, item); });
}

absl::Status CheckKvHeads(const PlannedModel& model, int64_t kv_heads) {
  const int64_t query_heads = model.config.num_query_heads;
  if (kv_heads <= query_heads && query_heads % kv_heads == 0) return absl::OkStatus();
  return Usage(absl::StrCat("--kv-heads ", kv_heads, ": must divide the ", query_heads,
                            " query heads of ", model.label, " (", query_heads,
                            ": MHA, a divisor: GQA, 1: MQA)"));
}

absl::StatusOr<KvSizeReport> BuildReport(const CommandLine& line) {
  if (line.positional().empty()) {
    return Usage(absl::StrCat("missing MODEL: a preset (", ModelPresetNames(),
                              "), a GGUF file or custom; see gqa kv-size --help"));
  }
  if (line.positional().size() > 1) {
    return Usage(absl::StrCat("unexpected argument '", line.positional()[1],
                              "': kv-size takes one MODEL; lists are comma-separated"));
  }
  if (line.Has("json") && line.Has("markdown")) {
    return Usage("--json and --markdown exclude each other; pick one");
  }
  KvSizeReport report;
  ASSIGN_OR_RETURN(report.model, ResolveModel(line.positional().front(), line));
  const ModelConfig& config = report.model.config;
  if (config.num_query_heads <= 0 || config.num_layers <= 0 || config.head_dim <= 0 ||
      config.num_kv_heads <= 0) {
    return Usage(absl::StrCat("MODEL '", report.model.label,
                              "': its shape lacks layers, heads or head_dim"));
  }
  if (!line.Has("ctx") && config.context_tokens <= 0) {
    return Usage(absl::StrCat("--ctx is required: MODEL '", report.model.label,
                              "' states no trained context"));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> contexts, IntListFlag(line, "ctx", config.context_tokens));
  ASSIGN_OR_RETURN(std::vector<int64_t> kv_heads,
                   IntListFlag(line, "kv-heads", config.num_kv_heads));
  for (int64_t g : kv_heads) RETURN_IF_ERROR(CheckKvHeads(report.model, g));
  ASSIGN_OR_RETURN(std::vector<int64_t> tps, IntListFlag(line, "tp", 1));
  ASSIGN_OR_RETURN(std::vector<KvPolicy> policies,
                   ListFlag<KvPolicy>(line, "kv-policy", KvPolicy::Full(), ParseKvPolicy));
  ASSIGN_OR_RETURN(std::vector<DType> dtypes,
                   ListFlag<DType>(line, "kv-dtype", DType::kBF16, ParseKvDType));
  int64_t block_size = kDefaultKvBlockSize;
  if (std::optional<std::string> text = line.Value("block-size"); text.has_value()) {
    ASSIGN_OR_RETURN(block_size, ParsePositiveInt("--block-size", *text));
  }
  if (std::optional<std::string> text = line.Value("mem"); text.has_value()) {
    ASSIGN_OR_RETURN(report.mem_bytes, ParseByteSize("--mem", *text));
  }
  const size_t num_rows =
      contexts.size() * kv_heads.size() * tps.size() * policies.size() * dtypes.size();
  if (num_rows > kMaxRows) {
    return Usage(absl::StrCat("the lists give ", num_rows, " combinations; at most ", kMaxRows));
  }

  for (int64_t context_tokens : contexts) {
    for (int64_t g : kv_heads) {
      ModelConfig planned = config;
      planned.num_kv_heads = g;
      for (int64_t tp : tps) {
        for (const KvPolicy& policy : policies) {
          for (DType dtype : dtypes) {
            absl::StatusOr<KvPlan> plan = PlanKv(planned, {.context_tokens = context_tokens,
                                                           .dtype = dtype,
                                                           .policy = policy,
                                                           .tp = tp,
                                                           .block_size = block_size});
            if (!plan.ok()) {
              if (kv_heads.size() == 1) return plan.status();
              return absl::Status(plan.status().code(), absl::StrCat(plan.status().message(),
                                                                     " (with --kv-heads ", g, ")"));
            }
            KvSizeRow row{g, dtype, policy, *plan, std::nullopt};
            if (report.mem_bytes.has_value()) {
              row.max_sequences = MaxSequences(*plan, *report.mem_bytes);
            }
            report.rows.push_back(std::move(row));
          }
        }
      }
    }
  }
  return report;
}

int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

const char* KvSizeUsage() {
  static const std::string* const usage = [] {
    // The preset names, wrapped under the "a preset" line's value column.
    std::string names;
    size_t line_length = 15;
    for (const ModelPreset& preset : ModelPresets()) {
      const bool first = names.empty();
      if (!first && line_length + preset.name.size() + 2 > 80) {
        names += ",\n               ";
        line_length = 15;
      } else if (!first) {
        names += ", ";
        line_length += 2;
      }
      names += preset.name;
      line_length += preset.name.size();
    }
    std::string text = kUsage;
    text.replace(text.find("%PRESETS%"), 9, names);
    return new std::string(std::move(text));
  }();
  return usage->c_str();
}

int RunKvSizeCommand(absl::Span<const char* const> args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<CommandLine> line = CommandLine::Parse(args, kFlags);
  if (line.ok() && line->Has("help")) {
    out << KvSizeUsage();
    return 0;
  }
  absl::StatusOr<KvSizeReport> report =
      line.ok() ? BuildReport(*line) : absl::StatusOr<KvSizeReport>(line.status());
  if (!report.ok()) {
    err << "gqa kv-size: " << report.status().message() << "\n";
    return ExitCode(report.status());
  }
  if (line->Has("json")) {
    out << RenderKvSizeJson(*report);
  } else {
    out << RenderKvSizeText(*report, line->Has("markdown"));
  }
  out.flush();
  return out.good() ? 0 : 1;
}

int RunKvSizeCommand(int argc, char** argv) {
  return RunKvSizeCommand(absl::Span<const char* const>(argv + 1, argc - 1), std::cout, std::cerr);
}

}  // namespace gqa
