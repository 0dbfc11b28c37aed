// Conversions between the gqa.v1 KV and shape messages and the core types
// (KvPolicy, DType, ModelConfig), shared by every service that speaks them
// (worker, router) so the rules and messages are stated once. Pure
// functions; thread-safe.
#ifndef GQA_PROTO_CONVERT_KV_CONVERT_H_
#define GQA_PROTO_CONVERT_KV_CONVERT_H_

#include <optional>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/kv_options.h"
#include "core/model_config.h"
#include "gqa/v1/common.pb.h"

namespace gqa {

// An unset policy is `full`. INVALID_ARGUMENT naming the field for sizes < 1.
absl::StatusOr<KvPolicy> KvPolicyFromProto(const v1::KvPolicy& proto);
v1::KvPolicy KvPolicyToProto(const KvPolicy& policy);
v1::KvPolicyKind KvPolicyKindToProto(KvPolicy::Kind kind);

// std::nullopt for KV_DTYPE_UNSPECIFIED (and unknown values).
std::optional<DType> DTypeFromProto(v1::KvDtype dtype);
v1::KvDtype DTypeToProto(DType dtype);

v1::ModelShape ModelShapeToProto(const ModelConfig& config);

}  // namespace gqa

#endif  // GQA_PROTO_CONVERT_KV_CONVERT_H_
