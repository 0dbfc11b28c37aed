#include "kvstore/redis/redis_address.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gqa::kvstore {
namespace {

absl::Status Malformed(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed Redis address \"", text, "\": ", why,
                                                 "; expected host:port or [ipv6]:port"));
}

}  // namespace

std::string RedisAddress::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<RedisAddress> ParseRedisAddress(absl::string_view text) {
  absl::string_view host;
  absl::string_view port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return Malformed(text, "no closing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Malformed(text, "no ':port' after ']'");
    }
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Malformed(text, "no ':port'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return Malformed(text, "an IPv6 host must be in brackets");
    }
  }
  if (host.empty()) return Malformed(text, "empty host");
  for (char c : host) {
    if (c == ' ' || c == '/' || c == '\t' || c == '\0') return Malformed(text, "bad host");
  }
  if (port.empty() || port.size() > 5) return Malformed(text, "bad port");
  int port_number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return Malformed(text, "port is not a number");
  }
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return Malformed(text, "port out of range [1, 65535]");
  }
  return RedisAddress{std::string(host), port_number};
}

}  // namespace gqa::kvstore
