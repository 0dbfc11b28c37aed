#include "router/api_keys.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gqa {

bool ApiKeyGrant::MayUse(absl::string_view model) const {
  return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
}

ApiKeys ApiKeys::Open() {
  ApiKeys keys;
  keys.open_ = true;
  keys.open_grant_.key_name = "open";
  keys.open_grant_.tenant = "default";
  return keys;
}

absl::StatusOr<ApiKeys> ApiKeys::Parse(absl::string_view text, absl::string_view source) {
  ApiKeys keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    ApiKeyGrant grant;
    const std::string key(fields[0]);
    if (key.size() < 8) return error("a key needs at least 8 characters");
    grant.key_name = absl::StrCat(key.substr(0, 4), "... (line ", line_number, ")");
    for (size_t i = 1; i < fields.size(); ++i) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(fields[i], '=');
      if (kv.first == "tenant") {
        if (kv.second.empty() || kv.second.size() > 128) return error("tenant must be 1..128 bytes");
        grant.tenant = std::string(kv.second);
      } else if (kv.first == "max_priority") {
        if (!absl::SimpleAtoi(kv.second, &grant.max_priority) || grant.max_priority < -100 ||
            grant.max_priority > 100) {
          return error("max_priority must be an integer in [-100, 100]");
        }
      } else if (kv.first == "max_streams") {
        if (!absl::SimpleAtoi(kv.second, &grant.max_streams) || grant.max_streams < 1) {
          return error("max_streams must be a positive integer");
        }
      } else if (kv.first == "models") {
        grant.models = absl::StrSplit(kv.second, ',', absl::SkipEmpty());
      } else {
        return error(absl::StrCat("unknown field '", kv.first,
                                  "' (expected tenant, max_priority, max_streams, models)"));
      }
    }
    if (grant.tenant.empty()) return error("the key has no tenant=<name>");
    if (!keys.keys_.emplace(key, std::move(grant)).second) return error("a duplicate key");
  }
  return keys;
}

absl::StatusOr<const ApiKeyGrant*> ApiKeys::Authenticate(
    std::optional<absl::string_view> authorization) const {
  if (open_) return &open_grant_;
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "no API key: send it in the 'authorization' metadata as 'Bearer <key>'");
  }
  absl::string_view value = *authorization;
  if (!absl::ConsumePrefix(&value, "Bearer ") || value.empty()) {
    return absl::UnauthenticatedError("the 'authorization' metadata must be 'Bearer <key>'");
  }
  auto it = keys_.find(value);
  if (it == keys_.end()) return absl::UnauthenticatedError("unknown API key");
  return &it->second;
}

}  // namespace gqa
