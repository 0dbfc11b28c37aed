#include "tools/gqa_loadgen/dataset.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/json/strict_json.h"
#include "core/status.h"

namespace gqa::loadgen {
namespace {

constexpr absl::string_view kAllowedKeys = "prompt, prompt_token_ids, output_len";

absl::Status LineError(absl::string_view display, int64_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(display, ":", line, ": ", what));
}

absl::StatusOr<DatasetEntry> ParseLine(absl::string_view text, absl::string_view display,
                                       int64_t line) {
  absl::StatusOr<nlohmann::json> parsed = ParseStrictJson(text, "json");
  if (!parsed.ok()) {
    return LineError(display, line, absl::StrCat("not valid JSON (", parsed.status().message(),
                                                 "); each line must be one JSON object"));
  }
  const nlohmann::json& object = *parsed;
  if (!object.is_object()) {
    return LineError(display, line,
                     absl::StrCat("expected a JSON object, got ", JsonTypeName(object)));
  }
  DatasetEntry entry;
  entry.line = line;
  for (const auto& [key, value] : object.items()) {
    if (key != "prompt" && key != "prompt_token_ids" && key != "output_len") {
      return LineError(display, line,
                       absl::StrCat("unknown key \"", key, "\"; allowed: ", kAllowedKeys));
    }
  }
  const bool has_text = object.contains("prompt");
  const bool has_ids = object.contains("prompt_token_ids");
  if (has_text == has_ids) {
    return LineError(display, line,
                     has_text ? "has both \"prompt\" and \"prompt_token_ids\"; give one"
                              : "needs \"prompt\" (text) or \"prompt_token_ids\" (token ids)");
  }
  if (has_text) {
    const nlohmann::json& prompt = object.at("prompt");
    if (!prompt.is_string()) {
      return LineError(display, line,
                       absl::StrCat("\"prompt\" must be a string, got ", JsonTypeName(prompt)));
    }
    entry.prompt_text = prompt.get<std::string>();
    if (entry.prompt_text.empty()) return LineError(display, line, "\"prompt\" is empty");
  } else {
    const nlohmann::json& ids = object.at("prompt_token_ids");
    if (!ids.is_array()) {
      return LineError(display, line,
                       absl::StrCat("\"prompt_token_ids\" must be an array of token ids, got ",
                                    JsonTypeName(ids)));
    }
    if (ids.empty()) return LineError(display, line, "\"prompt_token_ids\" is empty");
    for (size_t i = 0; i < ids.size(); ++i) {
      const nlohmann::json& id = ids[i];
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return LineError(display, line,
                         absl::StrCat("prompt_token_ids[", i, "] is ", id.dump(),
                                      "; expected a token id (an integer >= 0)"));
      }
      entry.prompt_token_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (object.contains("output_len")) {
    const nlohmann::json& out = object.at("output_len");
    if (!out.is_number_integer() || out.get<int64_t>() < 1) {
      return LineError(display, line,
                       absl::StrCat("\"output_len\" is ", out.dump(),
                                    "; expected a positive integer (output tokens)"));
    }
    entry.output_tokens = out.get<int64_t>();
  }
  return entry;
}

}  // namespace

absl::StatusOr<std::vector<DatasetEntry>> ParseDataset(absl::string_view text,
                                                       absl::string_view display) {
  std::vector<DatasetEntry> entries;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    ASSIGN_OR_RETURN(DatasetEntry entry, ParseLine(line, display, line_number));
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(display, ": no requests (the file has no non-empty line); expected one JSON "
                              "object per line, e.g. {\"prompt\": \"Hello\", \"output_len\": 64}"));
  }
  return entries;
}

absl::StatusOr<std::vector<DatasetEntry>> ReadDataset(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("--dataset ", path, ": cannot open the file"));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("--dataset ", path, ": read failed"));
  }
  return ParseDataset(text.str(), path);
}

}  // namespace gqa::loadgen
