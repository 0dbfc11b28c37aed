#include "tools/gqa/kv_size_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/command_line.h"

namespace gqa {
namespace {

struct Column {
  std::string header;
  bool right_aligned;
};

std::string RenderTable(const std::vector<Column>& columns,
                        const std::vector<std::vector<std::string>>& cells, bool markdown) {
  std::vector<size_t> widths;
  for (const Column& column : columns) widths.push_back(column.header.size());
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto pad = [&](const std::string& text, size_t i) {
    std::string fill(widths[i] - text.size(), ' ');
    return columns[i].right_aligned ? fill + text : text + fill;
  };
  auto line = [&](const std::vector<std::string>& values) {
    std::vector<std::string> padded;
    for (size_t i = 0; i < values.size(); ++i) padded.push_back(pad(values[i], i));
    if (markdown) return absl::StrCat("| ", absl::StrJoin(padded, " | "), " |\n");
    std::string text = absl::StrJoin(padded, "  ");
    text.erase(text.find_last_not_of(' ') + 1);
    return absl::StrCat(text, "\n");
  };
  std::vector<std::string> headers;
  std::vector<std::string> rules;
  for (size_t i = 0; i < columns.size(); ++i) {
    headers.push_back(columns[i].header);
    std::string rule(widths[i], '-');
    if (markdown && columns[i].right_aligned) rule.back() = ':';
    rules.push_back(rule);
  }
  std::string out = line(headers) + line(rules);
  for (const auto& row : cells) out += line(row);
  return out;
}

std::string ShapeLine(const PlannedModel& model) {
  const ModelConfig& c = model.config;
  std::vector<std::string> parts = {absl::StrCat(c.num_layers, " layers")};
  if (c.hidden_size > 0) parts.push_back(absl::StrCat("hidden ", c.hidden_size));
  parts.push_back(absl::StrCat(c.num_query_heads, " query heads"));
  parts.push_back(absl::StrCat(c.num_kv_heads, " KV heads (",
                               AttentionName(c.num_query_heads, c.num_kv_heads), ")"));
  parts.push_back(absl::StrCat("head_dim ", c.head_dim));
  if (c.intermediate_size > 0) parts.push_back(absl::StrCat("MLP ", c.intermediate_size));
  if (c.vocab_size > 0) parts.push_back(absl::StrCat("vocab ", c.vocab_size));
  // A custom shape's context is just the first --ctx, not a trained one.
  if (c.context_tokens > 0 && model.source != "custom") {
    parts.push_back(absl::StrCat("trained context ", c.context_tokens));
  }
  return absl::StrJoin(parts, ", ");
}

std::string Breakdown(const KvSizeReport& report) {
  const KvSizeRow& row = report.rows.front();
  const KvPlan& p = row.plan;
  std::vector<std::pair<std::string, std::string>> lines = {
      {"per token (formula, no scales)",
       absl::StrCat(FormatWithCommas(p.kv_bytes_per_token), " bytes")},
      {"FP8 scales per token",
       absl::StrCat(FormatWithCommas(p.kv_scale_bytes_per_token), " bytes")},
      {absl::StrCat("per sequence (formula, ", p.tokens_held, " tokens)"),
       absl::StrCat(FormatWithCommas(p.kv_bytes_per_sequence_formula), " bytes")},
      {absl::StrCat("per sequence (allocated, ", p.slots_per_sequence, " slots)"),
       absl::StrCat(FormatWithCommas(p.kv_bytes_per_sequence), " bytes = ", p.blocks_per_sequence,
                    " blocks of ", p.block_size, " tokens")},
      {"per sequence per rank (allocated)",
       absl::StrCat(
           FormatWithCommas(p.kv_bytes_per_sequence_per_rank), " bytes (tp ", p.tp, ": ",
           p.kv_heads_per_rank, " KV head", p.kv_heads_per_rank == 1 ? "" : "s", " per rank",
           p.kv_replicas > 1 ? absl::StrCat(", each on ", p.kv_replicas, " ranks") : "", ")")},
  };
  if (row.max_sequences.has_value()) {
    lines.push_back(
        {absl::StrCat("sequences in ", FormatWithCommas(*report.mem_bytes), " bytes per rank"),
         FormatWithCommas(*row.max_sequences)});
  }
  size_t width = 0;
  for (const auto& [label, value] : lines) width = std::max(width, label.size());
  std::string out;
  for (const auto& [label, value] : lines) {
    absl::StrAppend(&out, label, std::string(width - label.size() + 2, ' '), value, "\n");
  }
  return out;
}

}  // namespace

std::string AttentionName(int64_t num_query_heads, int64_t num_kv_heads) {
  if (num_kv_heads == num_query_heads) return "MHA";
  if (num_kv_heads == 1) return "MQA";
  return absl::StrCat("GQA-", num_kv_heads);
}

std::string RenderKvSizeText(const KvSizeReport& report, bool markdown) {
  const PlannedModel& model = report.model;
  const ModelConfig& config = model.config;
  std::string out;
  std::string model_line = model.label;
  if (!config.name.empty() && config.name != model.label) {
    absl::StrAppend(&model_line, " (", config.name, ")");
  }
  // Markdown renders the prose lines as a list so they stay one per line.
  const std::string bullet = markdown ? "- " : "";
  absl::StrAppend(&out, bullet, "model  ", model_line, "\n", bullet, "shape  ", ShapeLine(model),
                  "\n");
  if (!model.note.empty()) absl::StrAppend(&out, bullet, "note   ", model.note, "\n");
  absl::StrAppend(&out, "\n");

  std::vector<Column> columns = {
      {"ctx", true},          {"kv heads", true}, {"attention", false},  {"kv dtype", false},
      {"kv policy", false},   {"tp", true},       {"tokens held", true}, {"per token", true},
      {"per sequence", true}, {"per rank", true}};
  if (report.mem_bytes.has_value()) {
    columns.push_back({absl::StrCat("sequences in ", FormatBytes(*report.mem_bytes)), true});
  }
  std::vector<std::vector<std::string>> cells;
  bool beyond_trained_context = false;
  for (const KvSizeRow& row : report.rows) {
    const KvPlan& p = row.plan;
    std::vector<std::string> cell = {absl::StrCat(p.context_tokens),
                                     absl::StrCat(row.num_kv_heads),
                                     AttentionName(config.num_query_heads, row.num_kv_heads),
                                     std::string(DTypeName(row.dtype)),
                                     FormatKvPolicy(row.policy),
                                     absl::StrCat(p.tp),
                                     absl::StrCat(p.tokens_held),
                                     FormatBytes(p.kv_bytes_per_token),
                                     FormatBytes(p.kv_bytes_per_sequence),
                                     FormatBytes(p.kv_bytes_per_sequence_per_rank)};
    if (row.max_sequences.has_value()) cell.push_back(FormatWithCommas(*row.max_sequences));
    cells.push_back(std::move(cell));
    if (model.source != "custom" && config.context_tokens > 0 &&
        p.tokens_held > config.context_tokens) {
      beyond_trained_context = true;
    }
  }
  absl::StrAppend(&out, RenderTable(columns, cells, markdown), "\n");
  absl::StrAppend(
      &out, bullet,
      "per token: layers x kv heads x 2 x head_dim x dtype bytes (the formula, no FP8 scales)\n",
      bullet, "per sequence: allocated for the tokens held (whole blocks of ",
      report.rows.front().plan.block_size, " tokens, plus FP8 scales)\n", bullet,
      "per rank: per sequence / min(tp, kv heads)",
      report.mem_bytes.has_value() ? "; sequences: floor(--mem / per rank)" : "", "\n");
  if (beyond_trained_context) {
    absl::StrAppend(&out, bullet, "note: some rows hold more tokens than the trained context (",
                    config.context_tokens,
                    "); the model needs RoPE scaling or a bounded policy to use them\n");
  }
  if (report.rows.size() == 1) absl::StrAppend(&out, "\n", Breakdown(report));
  return out;
}

std::string RenderKvSizeJson(const KvSizeReport& report) {
  const ModelConfig& config = report.model.config;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const KvSizeRow& row : report.rows) {
    const KvPlan& p = row.plan;
    nlohmann::ordered_json j;
    j["model"] = report.model.label;
    j["model_name"] = config.name;
    j["model_source"] = report.model.source;
    j["num_layers"] = config.num_layers;
    j["hidden_size"] = config.hidden_size;
    j["num_query_heads"] = config.num_query_heads;
    j["model_num_kv_heads"] = config.num_kv_heads;
    j["num_kv_heads"] = row.num_kv_heads;
    j["attention"] = AttentionName(config.num_query_heads, row.num_kv_heads);
    j["head_dim"] = config.head_dim;
    j["intermediate_size"] = config.intermediate_size;
    j["vocab_size"] = config.vocab_size;
    j["model_context_tokens"] = config.context_tokens;
    j["context_tokens"] = p.context_tokens;
    j["kv_dtype"] = std::string(DTypeName(row.dtype));
    j["bytes_per_element"] = p.bytes_per_element;
    j["kv_policy"] = FormatKvPolicy(row.policy);
    j["tp"] = p.tp;
    j["block_size"] = p.block_size;
    j["tokens_held"] = p.tokens_held;
    j["slots_per_sequence"] = p.slots_per_sequence;
    j["blocks_per_sequence"] = p.blocks_per_sequence;
    j["kv_shards"] = p.num_kv_shards;
    j["kv_heads_per_rank"] = p.kv_heads_per_rank;
    j["kv_replicas"] = p.kv_replicas;
    j["kv_bytes_per_token"] = p.kv_bytes_per_token;
    j["kv_scale_bytes_per_token"] = p.kv_scale_bytes_per_token;
    j["kv_bytes_per_sequence_formula"] = p.kv_bytes_per_sequence_formula;
    j["kv_bytes_per_sequence"] = p.kv_bytes_per_sequence;
    j["kv_bytes_per_block"] = p.kv_bytes_per_block;
    j["kv_bytes_per_sequence_per_rank"] = p.kv_bytes_per_sequence_per_rank;
    j["kv_bytes_per_block_per_rank"] = p.kv_bytes_per_block_per_rank;
    if (report.mem_bytes.has_value()) j["mem_bytes"] = *report.mem_bytes;
    if (row.max_sequences.has_value()) j["max_sequences"] = *row.max_sequences;
    rows.push_back(std::move(j));
  }
  const nlohmann::ordered_json& out = rows.size() == 1 ? rows.front() : rows;
  // replace: a file path that is not UTF-8 must not throw.
  return out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace gqa
