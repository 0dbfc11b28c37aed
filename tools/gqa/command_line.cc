#include "tools/gqa/command_line.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace gqa {
namespace {

const FlagSpec* FindSpec(absl::Span<const FlagSpec> specs, absl::string_view name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool AllDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

struct ByteUnit {
  absl::string_view name;  // lower case
  int64_t bytes;
};

constexpr int64_t kKi = int64_t{1} << 10;
constexpr ByteUnit kByteUnits[] = {
    {"", 1},
    {"b", 1},
    {"kib", kKi},
    {"mib", kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
    {"kb", 1000},
    {"mb", 1000 * 1000},
    {"gb", 1000 * 1000 * 1000},
    {"tb", int64_t{1000} * 1000 * 1000 * 1000},
};

}  // namespace

absl::StatusOr<CommandLine> CommandLine::Parse(absl::Span<const char* const> args,
                                               absl::Span<const FlagSpec> specs) {
  CommandLine line;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const absl::string_view arg = args[i];
    if (flags_done || !absl::StartsWith(arg, "-") || arg == "-") {
      line.positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      line.values_["help"] = "";
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      // A single dash: a negative number or a typo; neither is a flag.
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'; flags start with --"));
    }
    absl::string_view name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != absl::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = FindSpec(specs, name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (line.values_.count(std::string(name)) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, " given twice; give it once (lists are comma-separated: 64,8,1)"));
    }
    if (!spec->takes_value) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      line.values_[std::string(name)] = "";
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = std::string(args[++i]);
    }
    line.values_[std::string(name)] = *std::move(value);
  }
  return line;
}

std::optional<std::string> CommandLine::Value(absl::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<int64_t> ParsePositiveInt(absl::string_view flag, absl::string_view text) {
  int64_t value = 0;
  if (!text.empty() && text.size() <= 18 && AllDigits(text)) {
    for (char c : text) value = value * 10 + (c - '0');
  }
  if (value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", text, "': expected a positive integer"));
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> SplitList(absl::string_view flag, absl::string_view text) {
  std::vector<std::string> items = absl::StrSplit(text, ',');
  for (const std::string& item : items) {
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " '", text, "': empty item; separate values with single commas, e.g. 64,8,1"));
    }
  }
  return items;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view flag, absl::string_view text) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", text, "': ", why,
                     "; expected bytes with an optional unit, KiB/MiB/GiB/TiB (powers of 1024) or "
                     "KB/MB/GB/TB (powers of 1000), e.g. 80GiB"));
  };
  size_t number_end = 0;
  while (number_end < text.size() &&
         (absl::ascii_isdigit(static_cast<unsigned char>(text[number_end])) ||
          text[number_end] == '.')) {
    ++number_end;
  }
  const absl::string_view number = text.substr(0, number_end);
  const std::string unit = absl::AsciiStrToLower(text.substr(number_end));
  const size_t dot = number.find('.');
  const absl::string_view whole = number.substr(0, dot);
  const absl::string_view fraction =
      dot == absl::string_view::npos ? absl::string_view() : number.substr(dot + 1);
  if (whole.empty() || whole.size() > 18 || fraction.size() > 9 || !AllDigits(fraction) ||
      (dot != absl::string_view::npos && fraction.empty())) {
    return error("not a number");
  }
  const ByteUnit* found = nullptr;
  for (const ByteUnit& byte_unit : kByteUnits) {
    if (byte_unit.name == unit) found = &byte_unit;
  }
  if (found == nullptr) {
    if (unit == "k" || unit == "m" || unit == "g" || unit == "t") {
      return error(absl::StrCat("'", text.substr(number_end), "' alone is ambiguous"));
    }
    return error(absl::StrCat("unknown unit '", text.substr(number_end), "'"));
  }
  __int128 whole_value = 0;
  for (char c : whole) whole_value = whole_value * 10 + (c - '0');
  __int128 fraction_value = 0;
  __int128 fraction_scale = 1;
  for (char c : fraction) {
    fraction_value = fraction_value * 10 + (c - '0');
    fraction_scale *= 10;
  }
  const __int128 bytes =
      whole_value * found->bytes + fraction_value * found->bytes / fraction_scale;
  if (bytes > INT64_MAX) return error("too large");
  if (bytes <= 0) return error("must be at least one byte");
  return static_cast<int64_t>(bytes);
}

std::string FormatWithCommas(int64_t value) {
  std::string digits = absl::StrCat(value < 0 ? -(value + 1) + uint64_t{1} : uint64_t(value));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string FormatBytes(int64_t bytes) {
  constexpr absl::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.2f %s", value, kUnits[unit]);
}

}  // namespace gqa
