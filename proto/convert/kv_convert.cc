#include "proto/convert/kv_convert.h"

#include "absl/strings/str_cat.h"

namespace gqa {

absl::StatusOr<KvPolicy> KvPolicyFromProto(const v1::KvPolicy& proto) {
  switch (proto.policy_case()) {
    case v1::KvPolicy::POLICY_NOT_SET:
    case v1::KvPolicy::kFull:
      return KvPolicy::Full();
    case v1::KvPolicy::kStreaming: {
      const int64_t sinks =
          proto.streaming().has_sink_tokens() ? proto.streaming().sink_tokens() : kDefaultSinkTokens;
      if (sinks < 1 || proto.streaming().window_tokens() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kv_policy.streaming needs sink_tokens >= 1 and window_tokens >= 1, got ", sinks, " and ",
            proto.streaming().window_tokens()));
      }
      return KvPolicy::Streaming(sinks, proto.streaming().window_tokens());
    }
    case v1::KvPolicy::kH2O:
      if (proto.h2o().heavy_tokens() < 1 || proto.h2o().recent_tokens() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kv_policy.h2o needs heavy_tokens >= 1 and recent_tokens >= 1, got ",
            proto.h2o().heavy_tokens(), " and ", proto.h2o().recent_tokens()));
      }
      return KvPolicy::H2o(proto.h2o().heavy_tokens(), proto.h2o().recent_tokens());
    case v1::KvPolicy::kWindow:
      if (proto.window().window_tokens() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kv_policy.window needs window_tokens >= 1, got ", proto.window().window_tokens()));
      }
      return KvPolicy::Window(proto.window().window_tokens());
  }
  return absl::InvalidArgumentError("kv_policy: unknown policy");
}

v1::KvPolicy KvPolicyToProto(const KvPolicy& policy) {
  v1::KvPolicy proto;
  switch (policy.kind) {
    case KvPolicy::Kind::kFull:
      proto.mutable_full();
      break;
    case KvPolicy::Kind::kStreaming:
      proto.mutable_streaming()->set_sink_tokens(policy.sink_tokens);
      proto.mutable_streaming()->set_window_tokens(policy.window_tokens);
      break;
    case KvPolicy::Kind::kH2o:
      proto.mutable_h2o()->set_heavy_tokens(policy.heavy_tokens);
      proto.mutable_h2o()->set_recent_tokens(policy.recent_tokens);
      break;
    case KvPolicy::Kind::kWindow:
      proto.mutable_window()->set_window_tokens(policy.window_tokens);
      break;
  }
  return proto;
}

v1::KvPolicyKind KvPolicyKindToProto(KvPolicy::Kind kind) {
  switch (kind) {
    case KvPolicy::Kind::kFull: return v1::KV_POLICY_KIND_FULL;
    case KvPolicy::Kind::kStreaming: return v1::KV_POLICY_KIND_STREAMING;
    case KvPolicy::Kind::kH2o: return v1::KV_POLICY_KIND_H2O;
    case KvPolicy::Kind::kWindow: return v1::KV_POLICY_KIND_WINDOW;
  }
  return v1::KV_POLICY_KIND_UNSPECIFIED;
}

std::optional<DType> DTypeFromProto(v1::KvDtype dtype) {
  switch (dtype) {
    case v1::KV_DTYPE_F32: return DType::kF32;
    case v1::KV_DTYPE_F16: return DType::kF16;
    case v1::KV_DTYPE_BF16: return DType::kBF16;
    case v1::KV_DTYPE_FP8_E4M3: return DType::kFp8E4M3;
    case v1::KV_DTYPE_FP8_E5M2: return DType::kFp8E5M2;
    default: return std::nullopt;
  }
}

v1::KvDtype DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32: return v1::KV_DTYPE_F32;
    case DType::kF16: return v1::KV_DTYPE_F16;
    case DType::kBF16: return v1::KV_DTYPE_BF16;
    case DType::kFp8E4M3: return v1::KV_DTYPE_FP8_E4M3;
    case DType::kFp8E5M2: return v1::KV_DTYPE_FP8_E5M2;
  }
  return v1::KV_DTYPE_UNSPECIFIED;
}

v1::ModelShape ModelShapeToProto(const ModelConfig& config) {
  v1::ModelShape shape;
  shape.set_num_layers(static_cast<int32_t>(config.num_layers));
  shape.set_num_query_heads(static_cast<int32_t>(config.num_query_heads));
  shape.set_num_kv_heads(static_cast<int32_t>(config.num_kv_heads));
  shape.set_head_dim(static_cast<int32_t>(config.head_dim));
  shape.set_hidden_size(static_cast<int32_t>(config.hidden_size));
  shape.set_vocab_size(static_cast<int32_t>(config.vocab_size));
  shape.set_trained_context_tokens(config.context_tokens);
  return shape;
}

}  // namespace gqa
