// Flag parsing for the `gqa` subcommands: `--flag value`, `--flag=value`,
// switches (`--json`), positional arguments, and the value grammars the
// commands share (positive integers, comma-separated lists, byte sizes with
// units). Each command declares its flags; nothing is global (unlike
// ABSL_FLAG), so commands cannot collide. Plain values; thread-compatible.
#ifndef GQA_TOOLS_GQA_COMMAND_LINE_H_
#define GQA_TOOLS_GQA_COMMAND_LINE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

struct FlagSpec {
  absl::string_view name;   // without the leading "--", e.g. "kv-dtype"
  bool takes_value = true;  // false: a switch such as --json
};

class CommandLine {
 public:
  // Parses `args` (the words after the command name). "--" ends the flags;
  // "-h" and "--help" set the "help" switch. INVALID_ARGUMENT naming the flag
  // for an unknown flag, a missing value, a value given to a switch, or a
  // flag given twice.
  static absl::StatusOr<CommandLine> Parse(absl::Span<const char* const> args,
                                           absl::Span<const FlagSpec> specs);

  bool Has(absl::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The value of a flag that takes one; nullopt when absent.
  std::optional<std::string> Value(absl::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;  // switches map to ""
  std::vector<std::string> positional_;
};

// A positive decimal integer (at most 18 digits). INVALID_ARGUMENT
// "--flag 'text': expected a positive integer" otherwise.
absl::StatusOr<int64_t> ParsePositiveInt(absl::string_view flag, absl::string_view text);

// Comma-separated, non-empty items: "64,8,1" -> {"64", "8", "1"}.
// INVALID_ARGUMENT naming the flag for an empty item.
absl::StatusOr<std::vector<std::string>> SplitList(absl::string_view flag, absl::string_view text);

// A byte count: digits with an optional fraction and unit, case-insensitive:
// B, KiB/MiB/GiB/TiB (powers of 1024), KB/MB/GB/TB (powers of 1000), e.g.
// "85899345920", "80GiB", "1.5TB". The result is rounded down to whole bytes
// and must be positive. Bare K/M/G/T are refused as ambiguous.
// INVALID_ARGUMENT naming the flag otherwise.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view flag, absl::string_view text);

// "1,342,177,280".
std::string FormatWithCommas(int64_t value);

// Binary units with two decimals: "512 B", "2.50 MiB", "1.25 GiB".
std::string FormatBytes(int64_t bytes);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_COMMAND_LINE_H_
