// The one mapping between absl::Status and grpc::Status, used only by
// */service/ code (STYLE.md "Errors"). It lives apart from core/status.h so
// that core/ stays free of gRPC headers; link gqa_core_grpc to use it.
// Pure functions; thread-safe.
#ifndef GQA_CORE_GRPC_STATUS_CONVERT_H_
#define GQA_CORE_GRPC_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gqa {

// Same code (the numeric values agree by design), same message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gqa

#endif  // GQA_CORE_GRPC_STATUS_CONVERT_H_
