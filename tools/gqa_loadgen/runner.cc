#include "tools/gqa_loadgen/runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/status.h"
#include "tools/gqa_loadgen/dataset.h"
#include "tools/gqa_loadgen/driver.h"
#include "tools/gqa_loadgen/grpc_sender.h"
#include "tools/gqa_loadgen/plots.h"
#include "tools/gqa_loadgen/progress.h"
#include "tools/gqa_loadgen/quality.h"
#include "tools/gqa_loadgen/report_json.h"
#include "tools/gqa_loadgen/request_csv.h"
#include "tools/gqa_loadgen/run_result.h"
#include "tools/gqa_loadgen/summary_table.h"

namespace gqa::loadgen {
namespace {

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

std::string PolicyName(const std::optional<KvPolicy>& p) {
  return p ? FormatKvPolicy(*p) : "default";
}
std::string DtypeName(const std::optional<DType>& d) {
  return d ? std::string(DTypeName(*d)) : "any";
}

// Sweep point k sends the workload's requests from k * kPointStride on.
constexpr int64_t kPointStride = int64_t{1} << 32;

DriverOptions PhaseOptions(const LoadgenOptions& o, std::optional<double> sweep_value,
                           int64_t point_idx) {
  DriverOptions d;
  d.first_index = point_idx * kPointStride;
  d.mode = o.mode;
  d.arrival = o.arrival;
  d.concurrency = o.concurrency;
  if (sweep_value.has_value()) {
    if (o.mode == LoopMode::kOpen) {
      d.arrival.rate_per_s = *sweep_value;
    } else {
      d.concurrency = static_cast<int64_t>(*sweep_value);
    }
  }
  d.num_requests = o.num_requests;
  d.duration_s = o.duration_s;
  d.warmup_requests = o.warmup_requests;
  return d;
}

std::string Title(const DriverOptions& d, const LoadgenOptions& o) {
  std::string load =
      d.mode == LoopMode::kOpen
          ? absl::StrFormat("open loop, %s %g req/s", ArrivalKindName(d.arrival.kind),
                            d.arrival.rate_per_s)
          : absl::StrCat("closed loop, concurrency ", d.concurrency);
  return absl::StrCat(load, ", ",
                      o.num_requests ? absl::StrCat(*o.num_requests, " requests")
                                     : absl::StrCat(*o.duration_s, " s"),
                      ", in ", o.input.ToString(), " out ", o.output.ToString(), ", kv ",
                      PolicyName(o.settings.kv_policy), "/", DtypeName(o.settings.kv_dtype));
}

nlohmann::json ConfigJson(const LoadgenOptions& o, const TargetInfo& info) {
  nlohmann::json c;
  c["target"] = o.target.address;
  c["api"] = o.target.api == Api::kWorker ? "worker" : "inference";
  c["model"] = info.model_name;
  c["mode"] = o.mode == LoopMode::kOpen ? "open" : "closed";
  if (o.mode == LoopMode::kOpen) {
    c["arrival"] = std::string(ArrivalKindName(o.arrival.kind));
    if (!o.sweep) c["rate_rps"] = o.arrival.rate_per_s;
    if (o.arrival.kind == ArrivalKind::kGamma) c["burstiness"] = o.arrival.gamma_shape;
  } else if (!o.sweep) {
    c["concurrency"] = o.concurrency;
  }
  if (o.num_requests) c["requests"] = *o.num_requests;
  if (o.duration_s) c["duration_s"] = *o.duration_s;
  c["warmup"] = o.warmup_requests;
  c["input_len"] = o.input.ToString();
  c["output_len"] = o.output.ToString();
  if (o.shared_prefix) c["shared_prefix"] = o.shared_prefix->ToString();
  if (!o.dataset_path.empty()) c["dataset"] = o.dataset_path;
  c["prompt_format"] = o.prompt_format == PromptFormat::kText ? "text" : "tokens";
  c["kv_policy"] = PolicyName(o.settings.kv_policy);
  c["kv_dtype"] = DtypeName(o.settings.kv_dtype);
  c["temperature"] = o.settings.temperature;
  c["ignore_eos"] = o.settings.ignore_eos;
  c["seed"] = o.seed;
  c["connections"] = o.target.connections;
  c["slo"] = o.slo.ToString();
  c["started_at"] = absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  c["client_nproc"] = sysconf(_SC_NPROCESSORS_ONLN);
  return c;
}

absl::StatusOr<QualityResult> RunQuality(const LoadgenOptions& o, const Workload& workload,
                                         GrpcSender& sender, const RunnerEnv& env) {
  DriverOptions d;
  d.mode = LoopMode::kClosed;
  d.concurrency = o.quality_concurrency;
  d.num_requests = o.quality_prompts;
  RequestSettings reference = o.settings;
  reference.kv_policy = KvPolicy::Full();
  reference.kv_dtype = o.reference_kv_dtype;
  reference.temperature = 0;
  reference.keep_output_tokens = true;
  RequestSettings test = o.settings;
  test.temperature = 0;
  test.keep_output_tokens = true;
  std::fprintf(env.err, "quality: %lld prompts greedily under full/%s, then under %s/%s\n",
               static_cast<long long>(o.quality_prompts), DtypeName(o.reference_kv_dtype).c_str(),
               PolicyName(o.settings.kv_policy).c_str(), DtypeName(o.settings.kv_dtype).c_str());
  std::vector<RequestRecord> sides[2];
  for (int side = 0; side < 2; ++side) {
    sender.SetSettings(side == 0 ? reference : test);
    Driver driver(d, workload, sender);
    ASSIGN_OR_RETURN(sides[side], driver.Run());
  }
  sender.SetSettings(o.settings);
  std::vector<QualityPair> pairs;
  for (size_t i = 0; i < sides[0].size() && i < sides[1].size(); ++i) {
    pairs.push_back(QualityPair{sides[0][i], sides[1][i]});
  }
  QualityResult q = SummarizeQuality(pairs);
  q.kv_policy = PolicyName(o.settings.kv_policy);
  q.kv_dtype = DtypeName(o.settings.kv_dtype);
  q.reference_kv_dtype = DtypeName(o.reference_kv_dtype);
  return q;
}

std::string PointCsvPath(const std::string& path, absl::string_view variable, double value) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const std::string suffix = absl::StrFormat("-%s%g", variable, value);
  return has_ext ? absl::StrCat(path.substr(0, dot), suffix, path.substr(dot))
                 : absl::StrCat(path, suffix);
}

}  // namespace

absl::Status RunLoadgen(const LoadgenOptions& o, const RunnerEnv& env) {
  std::vector<DatasetEntry> dataset;
  if (!o.dataset_path.empty()) {
    ASSIGN_OR_RETURN(dataset, ReadDataset(o.dataset_path));
    for (const DatasetEntry& entry : dataset) {
      if (o.target.api == Api::kWorker && !entry.prompt_text.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            o.dataset_path, ":", entry.line,
            ": a text prompt; --api worker sends token ids only (use prompt_token_ids)"));
      }
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<GrpcSender> sender,
                   GrpcSender::Connect(o.target, absl::Seconds(30)));
  ASSIGN_OR_RETURN(TargetInfo info, sender->FetchInfo(absl::Seconds(30)));
  std::fprintf(env.err, "target %s (%s): model %s, vocabulary %lld, context %lld\n",
               o.target.address.c_str(), o.target.api == Api::kWorker ? "worker" : "router",
               info.model_name.c_str(), static_cast<long long>(info.vocab_size),
               static_cast<long long>(info.context_tokens));
  WorkloadOptions w;
  w.input = o.input;
  w.output = o.output;
  w.shared_prefix = o.shared_prefix;
  w.format = o.prompt_format;
  w.vocab_size = info.vocab_size;
  w.seed = o.seed;
  w.dataset = std::move(dataset);
  ASSIGN_OR_RETURN(Workload workload, Workload::Create(std::move(w)));
  sender->SetSettings(o.settings);

  const bool show_progress = o.progress == ProgressMode::kOn ||
                             (o.progress == ProgressMode::kAuto && env.stderr_is_tty);
  const std::string variable =
      o.sweep ? (o.sweep->mode == LoopMode::kOpen ? "rate" : "concurrency") : "";
  std::vector<std::optional<double>> points;
  if (o.sweep) {
    for (double v : o.sweep->values) points.push_back(v);
  } else {
    points.push_back(std::nullopt);
  }
  PlotSet plots;
  plots.sweep_variable = variable;
  std::vector<double> values;
  std::vector<RunResult> results;
  for (size_t point_idx = 0; point_idx < points.size(); ++point_idx) {
    const std::optional<double>& point = points[point_idx];
    const DriverOptions d = PhaseOptions(o, point, static_cast<int64_t>(point_idx));
    const double cpu_before = CpuSeconds();
    const int64_t wall_before = MonotonicNowNs();
    Driver driver(d, workload, *sender);
    absl::StatusOr<std::vector<RequestRecord>> records;
    {
      std::unique_ptr<ProgressPrinter> progress;
      if (show_progress) {
        progress = std::make_unique<ProgressPrinter>([&driver] { return driver.Live(); }, env.err,
                                                     absl::Milliseconds(500));
      }
      records = driver.Run();
    }
    if (!records.ok()) return records.status();
    RunResult result = ComputeRunResult(*records, o.slo);
    result.client_cpu_s = CpuSeconds() - cpu_before;
    const double wall_s = static_cast<double>(MonotonicNowNs() - wall_before) / 1e9;
    result.client_cpu_cores = wall_s > 0 ? result.client_cpu_s / wall_s : 0;
    std::fprintf(env.out, "%s\n", FormatSummary(Title(d, o), result, std::nullopt).c_str());
    std::fflush(env.out);
    if (!o.csv_path.empty()) {
      const std::string path = point ? PointCsvPath(o.csv_path, variable, *point) : o.csv_path;
      RETURN_IF_ERROR(WriteTextFile("csv", path, RecordsToCsv(*records, o.slo)));
    }
    PlotRun run;
    run.label = point ? absl::StrFormat("%s %g", variable, *point)
                      : (o.label.empty() ? std::string("run") : o.label);
    run.result = result;
    if (!o.plot_dir.empty()) run.records = *std::move(records);
    plots.runs.push_back(std::move(run));
    values.push_back(point.value_or(0));
    results.push_back(result);
  }
  std::optional<QualityResult> quality;
  if (o.quality) {
    ASSIGN_OR_RETURN(quality, RunQuality(o, workload, *sender, env));
    std::fprintf(env.out, "%s\n", FormatQuality(*quality).c_str());
  }
  if (o.sweep) {
    std::fprintf(env.out, "%s", FormatSweepTable(variable, values, results).c_str());
  }
  if (!o.json_path.empty()) {
    nlohmann::json doc;
    doc["schema"] = kResultSchema;
    doc["label"] = o.label;
    doc["config"] = ConfigJson(o, info);
    if (o.sweep) {
      doc["sweep"] = {{"variable", variable}, {"values", values}};
      nlohmann::json list = nlohmann::json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        nlohmann::json p = RunResultToJson(results[i], std::nullopt);
        p[variable] = values[i];
        list.push_back(std::move(p));
      }
      doc["points"] = std::move(list);
      if (quality) doc["quality"] = RunResultToJson(RunResult(), quality)["quality"];
    } else {
      doc.update(RunResultToJson(results[0], quality));
    }
    RETURN_IF_ERROR(WriteTextFile("json", o.json_path, doc.dump(2) + "\n"));
    std::fprintf(env.err, "results: %s\n", o.json_path.c_str());
  }
  if (!o.plot_dir.empty()) {
    if (o.sweep) plots.sweep_values = values;
    ASSIGN_OR_RETURN(PlotFiles files, WritePlotFiles(o.plot_dir, plots));
    const std::optional<std::string> gnuplot = FindExecutable("gnuplot", env.path_list);
    if (!gnuplot.has_value()) {
      std::fprintf(env.err,
                   "plots skipped: gnuplot is not on PATH (install gnuplot-nox); the data and "
                   "%s are written, run `gnuplot %s` later\n",
                   files.script_path.c_str(), files.script_path.c_str());
    } else {
      RETURN_IF_ERROR(RunGnuplot(*gnuplot, files.script_path));
      for (const std::string& png : files.pngs) std::fprintf(env.err, "plot: %s\n", png.c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace gqa::loadgen
