#include "core/model_config.h"

#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

absl::Status RequirePositive(const char* field, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("model shape: ", field, "=", value, " must be positive"));
}

}  // namespace

absl::Status ModelConfig::Validate() const {
  for (const auto& [field, value] : {std::pair<const char*, int64_t>{"num_layers", num_layers},
                                     {"hidden_size", hidden_size},
                                     {"num_query_heads", num_query_heads},
                                     {"num_kv_heads", num_kv_heads},
                                     {"head_dim", head_dim},
                                     {"intermediate_size", intermediate_size},
                                     {"vocab_size", vocab_size},
                                     {"context_tokens", context_tokens}}) {
    if (absl::Status status = RequirePositive(field, value); !status.ok()) return status;
  }
  if (num_kv_heads > num_query_heads || num_query_heads % num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model shape: num_kv_heads=", num_kv_heads, " must divide num_query_heads=",
        num_query_heads, " (MHA: equal, GQA: a divisor, MQA: 1)"));
  }
  if (!(rope_theta > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model shape: rope_theta=", rope_theta, " must be positive"));
  }
  if (!(norm_eps > 0 && norm_eps < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model shape: norm_eps=", norm_eps, " must be in (0, 1)"));
  }
  if (rope_scaling.type != RopeScalingType::kNone && !(rope_scaling.factor >= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model shape: rope scaling factor=", rope_scaling.factor, " must be >= 1"));
  }
  return absl::OkStatus();
}

}  // namespace gqa
