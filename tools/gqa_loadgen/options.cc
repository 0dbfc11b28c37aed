#include "tools/gqa_loadgen/options.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/status.h"
#include "tools/gqa/command_line.h"

namespace gqa::loadgen {

const char kLoadgenUsage[] = R"(usage: gqa-loadgen --target ADDR (--rate R | --concurrency C | --sweep KIND:V1,V2,...)
                   (--requests N | --duration S) [flags]
       gqa-loadgen compare A.json B.json

Target
  --target ADDR            host:port of a gqa-router (--api inference) or gqa-worker (--api worker)
  --api inference|worker   default inference; worker sends token ids straight to one worker
  --model NAME             inference: the model to ask for (default: the router's)
  --tenant T               worker: the tenant of every Submit (default loadgen)
  --api-key KEY | --api-key-file F   sent as "authorization: Bearer KEY"
  --tls                    TLS with the system's roots; --tls-ca F, --tls-cert F --tls-key F (mTLS),
                           --tls-server-name N imply it
  --connections N          HTTP/2 connections, requests spread over them (default 1)
  --timeout S              each request's deadline in seconds (default 600)
Load
  --rate R                 open loop: R requests/s on average, sent on schedule however slow the
                           server is; --arrival poisson|gamma|constant (default poisson),
                           --burstiness K (gamma shape; < 1 burstier, 1 = Poisson)
  --concurrency C          closed loop: C requests in flight
  --sweep rate:1,2,4 | concurrency:1,4,16   one run per value, in order
  --requests N | --duration S   measured requests, or seconds of sending (S in s; 90s, 2m)
  --warmup N               requests sent first and left out of every result (default 0)
Workload
  --input-len N|LO:HI      prompt tokens, fixed or uniform (default 128)
  --output-len N|LO:HI     output tokens (default 128; ignore_eos makes them exact)
  --dataset FILE           JSONL: {"prompt": "..."} or {"prompt_token_ids": [...]},
                           optional "output_len"; replayed in a seeded order
  --shared-prefix COUNT,LENGTH,FRACTION   COUNT system prompts of LENGTH tokens prepended to
                           FRACTION of the requests (prefix caching, KV-aware routing)
  --prompt-format tokens|text   inference: token ids (exact lengths, default) or words
  --allow-eos              stop at end-of-sequence (default: ignore_eos)
  --kv-policy full|streaming:S+W|h2o:H+R|window:W   --kv-dtype f32|f16|bf16|fp8-e4m3|fp8-e5m2
  --temperature T          default 0 (greedy); > 0 samples with seed + request index
  --seed S                 arrivals, lengths, prompts and sampling (default 0)
Results
  --slo ttft=500ms,tpot=50ms,e2e=10s   goodput counts requests that meet every bound
  --json FILE              summary (fields such as ttft_ms.p50, tpot_ms.p99)
  --csv FILE               one row per request, with its scheduled and actual send times
  --plot DIR               PNG plots with gnuplot (CDFs; throughput-latency with --sweep)
  --label NAME             the run's name in the JSON and in compare
  --progress / --no-progress   live progress line (default: when stderr is a terminal)
Quality
  --quality                run --quality-prompts N prompts (default 16) greedily with the full
                           cache and with --kv-policy/--kv-dtype; report token agreement
  --reference-kv-dtype D   the reference's dtype (default: any)
Bad flags exit 2; a target that cannot be reached exits 1.
)";

namespace {

constexpr FlagSpec kFlags[] = {
    {"target"},       {"api"},          {"model"},         {"tenant"},
    {"api-key"},      {"api-key-file"}, {"tls", false},    {"tls-ca"},
    {"tls-cert"},     {"tls-key"},      {"tls-server-name"}, {"connections"},
    {"timeout"},      {"rate"},         {"arrival"},       {"burstiness"},
    {"concurrency"},  {"sweep"},        {"requests"},      {"duration"},
    {"warmup"},       {"input-len"},    {"output-len"},    {"dataset"},
    {"shared-prefix"}, {"prompt-format"}, {"allow-eos", false}, {"kv-policy"},
    {"kv-dtype"},     {"temperature"},  {"seed"},          {"slo"},
    {"json"},         {"csv"},          {"plot"},          {"label"},
    {"progress", false}, {"no-progress", false}, {"quality", false}, {"quality-prompts"},
    {"quality-concurrency"}, {"reference-kv-dtype"}};

absl::Status Invalid(absl::string_view flag, absl::string_view text, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " '", text, "': expected ", expected));
}

absl::StatusOr<double> PositiveNumber(absl::string_view flag, absl::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !(value > 0) || !std::isfinite(value)) {
    return Invalid(flag, text, "a positive number");
  }
  return value;
}

// Seconds: "90", "90s", "1.5m", "2h".
absl::StatusOr<double> Seconds(absl::string_view flag, absl::string_view text) {
  absl::string_view number = text;
  double scale = 1;
  if (absl::ConsumeSuffix(&number, "m")) {
    scale = 60;
  } else if (absl::ConsumeSuffix(&number, "h")) {
    scale = 3600;
  } else {
    absl::ConsumeSuffix(&number, "s");
  }
  double value = 0;
  if (!absl::SimpleAtod(number, &value) || !(value > 0) || !std::isfinite(value)) {
    return Invalid(flag, text, "a positive duration in seconds, e.g. 60, 90s or 2m");
  }
  return value * scale;
}

absl::StatusOr<int64_t> Positive(absl::string_view flag, absl::string_view text) {
  return ParsePositiveInt(absl::StrCat("--", flag), text);
}

absl::StatusOr<SweepSpec> ParseSweep(absl::string_view text) {
  const absl::Status form =
      Invalid("sweep", text, "rate:R1,R2,... or concurrency:C1,C2,..., e.g. rate:1,2,4,8");
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
  if (parts.size() != 2) return form;
  SweepSpec sweep;
  if (parts[0] == "rate") {
    sweep.mode = LoopMode::kOpen;
  } else if (parts[0] == "concurrency") {
    sweep.mode = LoopMode::kClosed;
  } else {
    return form;
  }
  for (absl::string_view item : absl::StrSplit(parts[1], ',')) {
    double value = 0;
    if (!absl::SimpleAtod(item, &value) || !(value > 0) || !std::isfinite(value)) return form;
    if (sweep.mode == LoopMode::kClosed && value != std::floor(value)) return form;
    sweep.values.push_back(value);
  }
  return sweep;
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::InvalidArgumentError(absl::StrCat("--api-key-file ", path, ": cannot open"));
  }
  std::stringstream text;
  text << file.rdbuf();
  std::string key(absl::StripAsciiWhitespace(text.str()));
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--api-key-file ", path, ": the file is empty"));
  }
  return key;
}

absl::Status ParseTarget(const CommandLine& f, LoadgenOptions& o) {
  if (!f.Value("target")) {
    return absl::InvalidArgumentError("--target is required: host:port of a router or worker");
  }
  o.target.address = *f.Value("target");
  if (auto v = f.Value("api")) {
    if (*v == "inference") {
      o.target.api = Api::kInference;
    } else if (*v == "worker") {
      o.target.api = Api::kWorker;
    } else {
      return Invalid("api", *v, "inference or worker");
    }
  }
  if (auto v = f.Value("model")) o.target.model = *v;
  if (auto v = f.Value("tenant")) o.target.tenant = *v;
  if (f.Has("api-key") && f.Has("api-key-file")) {
    return absl::InvalidArgumentError("--api-key and --api-key-file: give one");
  }
  if (auto v = f.Value("api-key")) o.target.api_key = *v;
  if (auto v = f.Value("api-key-file")) {
    ASSIGN_OR_RETURN(o.target.api_key, ReadKeyFile(*v));
  }
  o.target.tls = f.Has("tls");
  for (auto [flag, field] : {std::pair{"tls-ca", &o.target.tls_ca_path},
                             std::pair{"tls-cert", &o.target.tls_cert_path},
                             std::pair{"tls-key", &o.target.tls_key_path},
                             std::pair{"tls-server-name", &o.target.tls_server_name}}) {
    if (auto v = f.Value(flag)) {
      *field = *v;
      o.target.tls = true;
    }
  }
  if (o.target.tls_cert_path.empty() != o.target.tls_key_path.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together (mTLS)");
  }
  if (auto v = f.Value("connections")) {
    ASSIGN_OR_RETURN(o.target.connections, Positive("connections", *v));
  }
  if (auto v = f.Value("timeout")) {
    ASSIGN_OR_RETURN(o.target.request_timeout_s, Seconds("timeout", *v));
  }
  return absl::OkStatus();
}

absl::Status ParseLoad(const CommandLine& f, LoadgenOptions& o) {
  const int loops = f.Has("rate") + f.Has("concurrency") + f.Has("sweep");
  if (loops != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --rate (open loop), --concurrency (closed loop) or --sweep");
  }
  if (auto v = f.Value("rate")) {
    ASSIGN_OR_RETURN(o.arrival.rate_per_s, PositiveNumber("rate", *v));
    o.mode = LoopMode::kOpen;
  }
  if (auto v = f.Value("concurrency")) {
    ASSIGN_OR_RETURN(o.concurrency, Positive("concurrency", *v));
    o.mode = LoopMode::kClosed;
  }
  if (auto v = f.Value("sweep")) {
    ASSIGN_OR_RETURN(o.sweep, ParseSweep(*v));
    o.mode = o.sweep->mode;
  }
  if (auto v = f.Value("arrival")) {
    ASSIGN_OR_RETURN(o.arrival.kind, ParseArrivalKind(*v));
  }
  if (auto v = f.Value("burstiness")) {
    if (o.arrival.kind != ArrivalKind::kGamma) {
      return absl::InvalidArgumentError("--burstiness needs --arrival gamma");
    }
    ASSIGN_OR_RETURN(o.arrival.gamma_shape, PositiveNumber("burstiness", *v));
  }
  if (o.mode == LoopMode::kClosed && (f.Has("arrival") || f.Has("burstiness"))) {
    return absl::InvalidArgumentError("--arrival and --burstiness apply to the open loop (--rate)");
  }
  if (f.Has("requests") == f.Has("duration")) {
    return absl::InvalidArgumentError("give exactly one of --requests N or --duration S");
  }
  if (auto v = f.Value("requests")) {
    ASSIGN_OR_RETURN(o.num_requests, Positive("requests", *v));
  }
  if (auto v = f.Value("duration")) {
    ASSIGN_OR_RETURN(o.duration_s, Seconds("duration", *v));
  }
  if (auto v = f.Value("warmup")) {
    if (!absl::SimpleAtoi(*v, &o.warmup_requests) || o.warmup_requests < 0) {
      return Invalid("warmup", *v, "a number of requests >= 0");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseWorkload(const CommandLine& f, LoadgenOptions& o) {
  if (auto v = f.Value("input-len")) {
    ASSIGN_OR_RETURN(o.input, LengthSpec::Parse("--input-len", *v));
  }
  if (auto v = f.Value("output-len")) {
    ASSIGN_OR_RETURN(o.output, LengthSpec::Parse("--output-len", *v));
  }
  if (auto v = f.Value("shared-prefix")) {
    ASSIGN_OR_RETURN(o.shared_prefix, SharedPrefixSpec::Parse(*v));
  }
  if (auto v = f.Value("dataset")) {
    o.dataset_path = *v;
    if (f.Has("input-len") || f.Has("shared-prefix")) {
      return absl::InvalidArgumentError(
          "--dataset gives the prompts; --input-len and --shared-prefix do not apply");
    }
  }
  if (auto v = f.Value("prompt-format")) {
    if (*v == "tokens") {
      o.prompt_format = PromptFormat::kTokenIds;
    } else if (*v == "text") {
      o.prompt_format = PromptFormat::kText;
    } else {
      return Invalid("prompt-format", *v, "tokens or text");
    }
  }
  if (o.prompt_format == PromptFormat::kText && o.target.api == Api::kWorker) {
    return absl::InvalidArgumentError(
        "--prompt-format text needs --api inference (workers take token ids only)");
  }
  o.settings.ignore_eos = !f.Has("allow-eos");
  if (auto v = f.Value("kv-policy")) {
    ASSIGN_OR_RETURN(o.settings.kv_policy, ParseKvPolicy(*v));
  }
  if (auto v = f.Value("kv-dtype")) {
    ASSIGN_OR_RETURN(o.settings.kv_dtype, ParseKvDType(*v));
  }
  if (auto v = f.Value("temperature")) {
    float t = 0;
    if (!absl::SimpleAtof(*v, &t) || !(t >= 0) || !std::isfinite(t)) {
      return Invalid("temperature", *v, "a number >= 0");
    }
    o.settings.temperature = t;
  }
  if (auto v = f.Value("seed")) {
    if (!absl::SimpleAtoi(*v, &o.seed)) return Invalid("seed", *v, "an integer in [0, 2^64)");
  }
  o.settings.seed = o.seed;
  return absl::OkStatus();
}

absl::Status ParseResults(const CommandLine& f, LoadgenOptions& o) {
  if (auto v = f.Value("slo")) {
    ASSIGN_OR_RETURN(o.slo, ParseSlo(*v));
  }
  if (auto v = f.Value("json")) o.json_path = *v;
  if (auto v = f.Value("csv")) o.csv_path = *v;
  if (auto v = f.Value("plot")) o.plot_dir = *v;
  if (auto v = f.Value("label")) o.label = *v;
  if (f.Has("progress") && f.Has("no-progress")) {
    return absl::InvalidArgumentError("--progress and --no-progress: give one");
  }
  if (f.Has("progress")) o.progress = ProgressMode::kOn;
  if (f.Has("no-progress")) o.progress = ProgressMode::kOff;
  o.quality = f.Has("quality");
  for (absl::string_view flag : {"quality-prompts", "quality-concurrency", "reference-kv-dtype"}) {
    if (f.Has(flag) && !o.quality) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs --quality"));
    }
  }
  if (o.quality && !o.settings.kv_policy && !o.settings.kv_dtype) {
    return absl::InvalidArgumentError(
        "--quality compares a KV policy or dtype with the full cache: give --kv-policy and/or "
        "--kv-dtype");
  }
  if (auto v = f.Value("quality-prompts")) {
    ASSIGN_OR_RETURN(o.quality_prompts, Positive("quality-prompts", *v));
  }
  if (auto v = f.Value("quality-concurrency")) {
    ASSIGN_OR_RETURN(o.quality_concurrency, Positive("quality-concurrency", *v));
  }
  if (auto v = f.Value("reference-kv-dtype")) {
    absl::StatusOr<DType> dtype = ParseKvDType(*v);
    if (!dtype.ok()) return Annotate(dtype.status(), "--reference-kv-dtype");
    o.reference_kv_dtype = *dtype;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadgenOptions> ParseLoadgenOptions(absl::Span<const char* const> args) {
  ASSIGN_OR_RETURN(CommandLine f, CommandLine::Parse(args, kFlags));
  LoadgenOptions o;
  if (f.Has("help")) {
    o.help = true;
    return o;
  }
  if (!f.positional().empty()) {
    if (f.positional()[0] != "compare") {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", f.positional()[0], "'; see --help"));
    }
    if (f.positional().size() != 3) {
      return absl::InvalidArgumentError("compare takes two result files: compare A.json B.json");
    }
    o.compare_paths = {f.positional()[1], f.positional()[2]};
    return o;
  }
  RETURN_IF_ERROR(ParseTarget(f, o));
  RETURN_IF_ERROR(ParseLoad(f, o));
  RETURN_IF_ERROR(ParseWorkload(f, o));
  RETURN_IF_ERROR(ParseResults(f, o));
  o.arrival.seed = o.seed;
  return o;
}

}  // namespace gqa::loadgen
