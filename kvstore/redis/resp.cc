#include "kvstore/redis/resp.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gqa::kvstore {
namespace {

// Parses an optional '-' and decimal digits, nothing else, without overflow.
std::optional<int64_t> ParseStrictInt64(absl::string_view text) {
  bool negative = false;
  if (!text.empty() && text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
  }
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (magnitude > limit) return std::nullopt;
  if (negative) return magnitude == limit ? INT64_MIN : -static_cast<int64_t>(magnitude);
  return static_cast<int64_t>(magnitude);
}

std::string Printable(absl::string_view bytes, size_t max_bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (absl::ascii_isprint(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (bytes.size() > max_bytes) absl::StrAppend(&out, "...(", bytes.size(), " bytes)");
  return out;
}

}  // namespace

absl::string_view RespValue::TypeName() const {
  switch (type) {
    case Type::kSimpleString:
      return "simple string";
    case Type::kError:
      return "error";
    case Type::kInteger:
      return "integer";
    case Type::kBulkString:
      return "bulk string";
    case Type::kNullBulk:
      return "null bulk string";
    case Type::kArray:
      return "array";
    case Type::kNullArray:
      return "null array";
  }
  return "unknown";
}

std::string RespValue::DebugString() const {
  switch (type) {
    case Type::kSimpleString:
      return absl::StrCat("+", Printable(str, 64));
    case Type::kError:
      return absl::StrCat("-", Printable(str, 200));
    case Type::kInteger:
      return absl::StrCat(":", integer);
    case Type::kBulkString:
      return absl::StrCat("\"", Printable(str, 64), "\"");
    case Type::kNullBulk:
    case Type::kNullArray:
      return "(nil)";
    case Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < elements.size() && i < 8; ++i) {
        absl::StrAppend(&out, i ? ", " : "", elements[i].DebugString());
      }
      if (elements.size() > 8) absl::StrAppend(&out, ", ...(", elements.size(), " elements)");
      return out + "]";
    }
  }
  return "?";
}

RespValue RespValue::SimpleString(std::string s) {
  RespValue v;
  v.type = Type::kSimpleString;
  v.str = std::move(s);
  return v;
}
RespValue RespValue::Error(std::string s) {
  RespValue v;
  v.type = Type::kError;
  v.str = std::move(s);
  return v;
}
RespValue RespValue::Integer(int64_t i) {
  RespValue v;
  v.type = Type::kInteger;
  v.integer = i;
  return v;
}
RespValue RespValue::Bulk(std::string s) {
  RespValue v;
  v.type = Type::kBulkString;
  v.str = std::move(s);
  return v;
}
RespValue RespValue::NullBulk() { return RespValue(); }
RespValue RespValue::Array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = Type::kArray;
  v.elements = std::move(elements);
  return v;
}

void AppendCommand(absl::Span<const absl::string_view> args, std::string* out) {
  absl::StrAppend(out, "*", args.size(), "\r\n");
  for (absl::string_view arg : args) {
    absl::StrAppend(out, "$", arg.size(), "\r\n");
    out->append(arg.data(), arg.size());
    out->append("\r\n");
  }
}

std::string EncodeCommand(absl::Span<const absl::string_view> args) {
  std::string out;
  AppendCommand(args, &out);
  return out;
}

void AppendReply(const RespValue& value, std::string* out) {
  using Type = RespValue::Type;
  switch (value.type) {
    case Type::kSimpleString:
      absl::StrAppend(out, "+", value.str, "\r\n");
      return;
    case Type::kError:
      absl::StrAppend(out, "-", value.str, "\r\n");
      return;
    case Type::kInteger:
      absl::StrAppend(out, ":", value.integer, "\r\n");
      return;
    case Type::kBulkString:
      absl::StrAppend(out, "$", value.str.size(), "\r\n", value.str, "\r\n");
      return;
    case Type::kNullBulk:
      out->append("$-1\r\n");
      return;
    case Type::kNullArray:
      out->append("*-1\r\n");
      return;
    case Type::kArray:
      absl::StrAppend(out, "*", value.elements.size(), "\r\n");
      for (const RespValue& element : value.elements) AppendReply(element, out);
      return;
  }
}

void RespParser::Feed(absl::string_view bytes) {
  if (!error_.ok()) return;
  // Drop consumed bytes before growing, so a long-lived parser stays small.
  if (pos_ > 0 && (pos_ == buffer_.size() || pos_ >= (size_t{64} << 10))) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

absl::Status RespParser::Fail(std::string message) {
  error_ = absl::InvalidArgumentError(absl::StrCat("malformed RESP reply: ", message));
  return error_;
}

absl::StatusOr<std::optional<RespValue>> RespParser::Next() {
  if (!error_.ok()) return error_;
  while (true) {
    if (pending_bulk_bytes_ >= 0) {
      const size_t need = static_cast<size_t>(pending_bulk_bytes_) + 2;
      if (buffer_.size() - pos_ < need) return std::nullopt;
      if (buffer_[pos_ + need - 2] != '\r' || buffer_[pos_ + need - 1] != '\n') {
        return Fail(
            absl::StrCat("bulk string of ", pending_bulk_bytes_, " bytes is not followed by CRLF"));
      }
      RespValue value = RespValue::Bulk(buffer_.substr(pos_, need - 2));
      pos_ += need;
      pending_bulk_bytes_ = -1;
      if (std::optional<RespValue> top = Complete(std::move(value))) return top;
      continue;
    }
    std::optional<RespValue> done;
    absl::StatusOr<bool> progressed = ParseHeader(&done);
    if (!progressed.ok()) return progressed.status();
    if (!*progressed) return std::nullopt;
    if (done) {
      if (std::optional<RespValue> top = Complete(*std::move(done))) return top;
    }
  }
}

absl::StatusOr<bool> RespParser::ParseHeader(std::optional<RespValue>* done) {
  const absl::string_view rest = absl::string_view(buffer_).substr(pos_);
  const size_t cr = rest.find('\r');
  if (cr == absl::string_view::npos || cr + 1 == rest.size()) {
    if (rest.size() > static_cast<size_t>(limits_.max_line_bytes) + 1) {
      return Fail(absl::StrCat("line longer than ", limits_.max_line_bytes, " bytes"));
    }
    return false;
  }
  if (rest[cr + 1] != '\n') return Fail("CR not followed by LF");
  if (cr == 0) return Fail("empty line where a reply type byte was expected");
  if (cr > static_cast<size_t>(limits_.max_line_bytes)) {
    return Fail(absl::StrCat("line longer than ", limits_.max_line_bytes, " bytes"));
  }
  const char type = rest[0];
  const absl::string_view body = rest.substr(1, cr - 1);
  if (body.find('\n') != absl::string_view::npos) return Fail("LF inside a line");
  pos_ += cr + 2;
  switch (type) {
    case '+':
      *done = RespValue::SimpleString(std::string(body));
      return true;
    case '-':
      *done = RespValue::Error(std::string(body));
      return true;
    case ':': {
      const std::optional<int64_t> v = ParseStrictInt64(body);
      if (!v) return Fail(absl::StrCat("bad integer \"", Printable(body, 32), "\""));
      *done = RespValue::Integer(*v);
      return true;
    }
    case '$': {
      const std::optional<int64_t> len = ParseStrictInt64(body);
      if (!len || *len < -1) {
        return Fail(absl::StrCat("bad bulk string length \"", Printable(body, 32), "\""));
      }
      if (*len > limits_.max_bulk_bytes) {
        return Fail(absl::StrCat("bulk string of ", *len, " bytes exceeds the limit of ",
                                 limits_.max_bulk_bytes));
      }
      if (*len == -1) {
        *done = RespValue::NullBulk();
      } else {
        pending_bulk_bytes_ = *len;
      }
      return true;
    }
    case '*': {
      const std::optional<int64_t> count = ParseStrictInt64(body);
      if (!count || *count < -1) {
        return Fail(absl::StrCat("bad array length \"", Printable(body, 32), "\""));
      }
      if (*count > limits_.max_array_elements) {
        return Fail(absl::StrCat("array of ", *count, " elements exceeds the limit of ",
                                 limits_.max_array_elements));
      }
      if (*count == -1) {
        RespValue null_array;
        null_array.type = RespValue::Type::kNullArray;
        *done = std::move(null_array);
      } else if (*count == 0) {
        *done = RespValue::Array({});
      } else {
        if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
          return Fail(absl::StrCat("arrays nested deeper than ", limits_.max_depth));
        }
        Frame frame;
        frame.array.type = RespValue::Type::kArray;
        // NOTE: the count comes from the peer; reserve only a little up front.
        frame.array.elements.reserve(static_cast<size_t>(std::min<int64_t>(*count, 1024)));
        frame.num_remaining = *count;
        stack_.push_back(std::move(frame));
      }
      return true;
    }
    default:
      return Fail(absl::StrCat("unknown reply type byte '", Printable(rest.substr(0, 1), 1), "'"));
  }
}

std::optional<RespValue> RespParser::Complete(RespValue value) {
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    top.array.elements.push_back(std::move(value));
    if (--top.num_remaining > 0) return std::nullopt;
    value = std::move(top.array);
    stack_.pop_back();
  }
  return value;
}

}  // namespace gqa::kvstore
