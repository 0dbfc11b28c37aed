#include "worker/backend/cuda/device_errors.h"

#include "absl/strings/str_cat.h"

namespace gqa::cuda {

std::string DescribeDeviceError(const long long word[4]) {
  const long long a = word[1], b = word[2], c = word[3];
  std::string what;
  switch (static_cast<DeviceErrorCode>(word[0])) {
    case DeviceErrorCode::kNone:
      return "no error";
    case DeviceErrorCode::kTokenIdOutOfRange:
      what =
          absl::StrCat("embedding: token ", a, " id ", b, " outside the vocabulary [0, ", c, ")");
      break;
    case DeviceErrorCode::kSlotOutOfRange:
      what = absl::StrCat("KV write: token ", a, " KV head ", b, " slot ", c, " outside the cache");
      break;
    case DeviceErrorCode::kSeqIdxOutOfRange:
      what = absl::StrCat("attention: token ", a, " sequence index ", b, " outside [0, ", c, ")");
      break;
    case DeviceErrorCode::kContextLenOutOfRange:
      what = absl::StrCat("attention: token ", a, " context length ", b, " outside [1, ", c, "]");
      break;
    case DeviceErrorCode::kBlockOutOfRange:
      what = absl::StrCat("attention: token ", a, " block table entry ", b, " outside the cache's ",
                          c, " blocks");
      break;
    case DeviceErrorCode::kCopyBlockOutOfRange:
      what = absl::StrCat("KV block copy: pair ", a, " block ", b, " outside the cache's ", c,
                          " blocks");
      break;
    case DeviceErrorCode::kCopyBlockConflict:
      what = absl::StrCat("KV block copy: pair ", a, " destination block ", b,
                          " is also a source or appears in two pairs; nothing was copied");
      break;
    case DeviceErrorCode::kNegativePolicyValue:
      what = absl::StrCat("attention: sequence ", a, " has num_sinks=", b, " recent_window=", c,
                          " or a negative head_stride; none may be negative");
      break;
    case DeviceErrorCode::kGatherRowOutOfRange:
      what = absl::StrCat("gather: row ", a, " reads source row ", b, " outside [0, ", c, ")");
      break;
    default:
      what = absl::StrCat("unknown device error code ", word[0]);
  }
  return absl::StrCat(what, " (found on the device; the op's outputs for it are zero)");
}

}  // namespace gqa::cuda
