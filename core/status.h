// Status helpers used across gqaserve: RETURN_IF_ERROR and ASSIGN_OR_RETURN
// over absl::Status / absl::StatusOr, and small constructors that prefix a
// context string. Header-only, no gRPC or CUDA; the gRPC mapping lives in
// core/grpc_status.h so that only */service/ code pulls in grpcpp.
#ifndef GQA_CORE_STATUS_H_
#define GQA_CORE_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#define GQA_STATUS_CONCAT_INNER_(a, b) a##b
#define GQA_STATUS_CONCAT_(a, b) GQA_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status gqa_status_tmp_ = (expr);                   \
    if (!gqa_status_tmp_.ok()) return gqa_status_tmp_;         \
  } while (false)

// `lhs = value of expr` when `expr` (an absl::StatusOr<T>) is OK, otherwise
// returns its status from the enclosing function. `lhs` may declare a variable:
//   ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
#define ASSIGN_OR_RETURN(lhs, expr) \
  GQA_ASSIGN_OR_RETURN_IMPL_(GQA_STATUS_CONCAT_(gqa_statusor_, __LINE__), lhs, expr)
#define GQA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace gqa {

// Returns `status` with "context: " prepended to its message; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace gqa

#endif  // GQA_CORE_STATUS_H_
