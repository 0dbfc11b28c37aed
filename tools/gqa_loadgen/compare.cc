#include "tools/gqa_loadgen/compare.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/json/strict_json.h"
#include "core/status.h"
#include "tools/gqa_loadgen/report_json.h"

namespace gqa::loadgen {
namespace {

constexpr const char* kRows[] = {
    "num_ok",          "num_errors",      "request_throughput_rps", "output_token_throughput_tps",
    "goodput.requests_per_s", "goodput.fraction", "ttft_ms.p50",   "ttft_ms.p90",
    "ttft_ms.p99",     "tpot_ms.p50",     "tpot_ms.p90",            "tpot_ms.p99",
    "itl_ms.p50",      "itl_ms.p99",      "e2e_ms.p50",             "e2e_ms.p99",
    "send_lag_ms.p99", "tokens.cached_fraction", "peak_kv_bytes.mean", "client_cpu.cores",
    "quality.token_agreement.mean", "quality.first_divergence.p50"};

const nlohmann::json* Find(const nlohmann::json& root, absl::string_view path) {
  const nlohmann::json* node = &root;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(std::string(part));
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node->is_number() ? node : nullptr;
}

std::string Cell(const nlohmann::json* value) {
  if (value == nullptr) return "-";
  return absl::StrFormat("%.4g", value->get<double>());
}

std::string Table(const nlohmann::json& a, const nlohmann::json& b) {
  std::string out;
  for (const char* row : kRows) {
    const nlohmann::json* va = Find(a, row);
    const nlohmann::json* vb = Find(b, row);
    if (va == nullptr && vb == nullptr) continue;
    std::string change = "";
    if (va != nullptr && vb != nullptr && va->get<double>() != 0) {
      change = absl::StrFormat("%+.1f%%",
                               100.0 * (vb->get<double>() - va->get<double>()) /
                                   std::fabs(va->get<double>()));
    }
    absl::StrAppendFormat(&out, "  %-30s %14s %14s %10s\n", row, Cell(va), Cell(vb), change);
  }
  return out;
}

absl::Status CheckSchema(const nlohmann::json& doc, const std::string& name) {
  if (!doc.is_object() || !doc.contains("schema") || doc["schema"] != kResultSchema) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a gqa-loadgen result (no \"schema\": \"", kResultSchema, "\")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ReadJson(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << file.rdbuf();
  return ParseStrictJson(text.str(), path);
}

}  // namespace

absl::StatusOr<std::string> CompareResults(const nlohmann::json& a, const std::string& a_name,
                                           const nlohmann::json& b, const std::string& b_name) {
  RETURN_IF_ERROR(CheckSchema(a, a_name));
  RETURN_IF_ERROR(CheckSchema(b, b_name));
  if (a.contains("points") != b.contains("points")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "one of ", a_name, " and ", b_name, " is a sweep and the other is not; compare like runs"));
  }
  std::string out = absl::StrFormat("  %-30s %14s %14s %10s\n", "metric", "A", "B", "B vs A");
  out = absl::StrCat("A: ", a_name, " (", a.value("label", ""), ")\nB: ", b_name, " (",
                     b.value("label", ""), ")\n", out);
  if (!a.contains("points")) return out + Table(a, b);
  const nlohmann::json& pa = a["points"];
  const nlohmann::json& pb = b["points"];
  const std::string variable = a["sweep"].value("variable", "value");
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    absl::StrAppend(&out, "point ", i + 1, ": ", variable, " ", pa[i].value(variable, 0.0),
                    " vs ", pb[i].value(variable, 0.0), "\n", Table(pa[i], pb[i]));
  }
  if (pa.size() != pb.size()) {
    absl::StrAppend(&out, "(A has ", pa.size(), " points, B ", pb.size(), "; extra ones skipped)\n");
  }
  return out;
}

absl::StatusOr<std::string> CompareResultFiles(const std::string& a_path,
                                               const std::string& b_path) {
  ASSIGN_OR_RETURN(nlohmann::json a, ReadJson(a_path));
  ASSIGN_OR_RETURN(nlohmann::json b, ReadJson(b_path));
  return CompareResults(a, a_path, b, b_path);
}

}  // namespace gqa::loadgen
