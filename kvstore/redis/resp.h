// RESP2, the Redis wire protocol: encoding a command (an array of bulk
// strings, binary-safe) and an incremental reply parser that accepts input in
// arbitrary pieces and rejects malformed or oversized replies. Used by
// RedisConnection and by the test fakes. Thread-compatible.
#ifndef GQA_KVSTORE_REDIS_RESP_H_
#define GQA_KVSTORE_REDIS_RESP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa::kvstore {

// One parsed reply. `str` holds the payload of kSimpleString, kError and
// kBulkString; `integer` of kInteger; `elements` of kArray.
struct RespValue {
  enum class Type { kSimpleString, kError, kInteger, kBulkString, kNullBulk, kArray, kNullArray };

  Type type = Type::kNullBulk;
  std::string str;
  int64_t integer = 0;
  std::vector<RespValue> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_null() const { return type == Type::kNullBulk || type == Type::kNullArray; }
  // "simple string", "error", ...: for messages about unexpected replies.
  absl::string_view TypeName() const;
  // A short printable rendering for messages (long payloads are cut).
  std::string DebugString() const;

  static RespValue SimpleString(std::string s);
  static RespValue Error(std::string s);
  static RespValue Integer(int64_t v);
  static RespValue Bulk(std::string s);
  static RespValue NullBulk();
  static RespValue Array(std::vector<RespValue> elements);
};

// Appends `*N\r\n$len\r\narg\r\n...` for `args` to `out`.
void AppendCommand(absl::Span<const absl::string_view> args, std::string* out);
std::string EncodeCommand(absl::Span<const absl::string_view> args);

// Appends the RESP2 encoding of `value` (servers and fakes send replies).
void AppendReply(const RespValue& value, std::string* out);

struct RespLimits {
  // Largest bulk string accepted, in bytes (Redis's proto-max-bulk-len default).
  int64_t max_bulk_bytes = int64_t{512} << 20;
  // Largest array, in elements.
  int64_t max_array_elements = int64_t{1} << 24;
  // Deepest nesting of arrays; a top-level array has depth 1.
  int max_depth = 16;
  // Longest header or simple string/error/integer line, without its CRLF.
  int64_t max_line_bytes = 64 << 10;
};

// Incremental parser of a stream of replies:
//   parser.Feed(bytes_from_socket);
//   ASSIGN_OR_RETURN(std::optional<RespValue> reply, parser.Next());
//   if (!reply) ... read more and Feed again
// Work already done on a partial reply is kept, so feeding a large bulk
// string in many pieces costs linear time. After an error the parser stays
// failed: the stream cannot be resynchronised, so drop the connection.
class RespParser {
 public:
  explicit RespParser(RespLimits limits = {}) : limits_(limits) {}
  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  void Feed(absl::string_view bytes);

  // The next complete reply; std::nullopt when more input is needed;
  // INVALID_ARGUMENT naming the problem when the input is malformed or
  // exceeds `limits`.
  absl::StatusOr<std::optional<RespValue>> Next();

  // Bytes fed but not yet returned as part of a complete reply.
  size_t num_buffered_bytes() const { return buffer_.size() - pos_; }

 private:
  struct Frame {
    RespValue array;
    int64_t num_remaining = 0;
  };

  absl::Status Fail(std::string message);
  // Parses one header line at pos_; returns false when it is incomplete.
  absl::StatusOr<bool> ParseHeader(std::optional<RespValue>* done);
  // Adds a completed value to the open arrays; returns the top-level value
  // once the outermost array (or a scalar) is complete.
  std::optional<RespValue> Complete(RespValue value);

  RespLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;                   // first byte of buffer_ not yet consumed
  int64_t pending_bulk_bytes_ = -1;  // >= 0: header read, waiting for payload
  std::vector<Frame> stack_;         // open arrays, outermost first
  absl::Status error_;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_RESP_H_
