#include "core/json/strict_json.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

// Watches the parser's events and remembers the first key that repeats
// within one object.
class DuplicateKeyDetector {
 public:
  bool OnEvent(Json::parse_event_t event, const Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        frames_.push_back({{}, frames_.empty() ? std::string() : frames_.back().last_key, {}});
        break;
      case Json::parse_event_t::object_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& frame = frames_.back();
          frame.last_key = parsed.get_ref<const std::string&>();
          if (!frame.keys.insert(frame.last_key).second && duplicate_.empty()) {
            duplicate_ = frame.parent_key.empty()
                             ? absl::StrCat("key '", frame.last_key, "' occurs twice")
                             : absl::StrCat("key '", frame.last_key, "' occurs twice in '",
                                            frame.parent_key, "'");
          }
        }
        break;
      default:
        break;
    }
    return true;  // keep everything; the error is reported after parsing
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    absl::flat_hash_set<std::string> keys;
    std::string parent_key;  // the key whose value this object is ("" at the root)
    std::string last_key;
  };
  std::vector<Frame> frames_;
  std::string duplicate_;  // first duplicate found, as a message
};

}  // namespace

bool JsonNestingWithinLimit(absl::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

absl::StatusOr<Json> ParseStrictJson(absl::string_view text, absl::string_view display) {
  if (!JsonNestingWithinLimit(text, kStrictJsonMaxDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat(display, ": JSON nested deeper than ", kStrictJsonMaxDepth, " levels"));
  }
  DuplicateKeyDetector detector;
  Json::parser_callback_t callback = [&detector](int /*depth*/, Json::parse_event_t event,
                                                 Json& parsed) {
    return detector.OnEvent(event, parsed);
  };
  // nlohmann reports invalid JSON by throwing; the exception stops here.
  Json json;
  try {
    json = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(display, ": not valid JSON (", e.what(), ")"));
  }
  if (!detector.duplicate().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(display, ": ", detector.duplicate()));
  }
  return json;
}

absl::string_view JsonTypeName(const Json& value) {
  if (value.is_object()) return "object";
  if (value.is_array()) return "array";
  if (value.is_string()) return "string";
  if (value.is_number_integer()) return "integer";  // signed and unsigned
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "boolean";
  if (value.is_null()) return "null";
  return "binary";
}

}  // namespace gqa
