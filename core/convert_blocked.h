// ConvertBlocked: the bulk loop behind core/half.h and core/fp8.h. Applies a
// scalar conversion element-wise in fixed-size blocks staged through a local
// array: the fixed trip count and the non-aliasing buffer (uint8_t output may
// alias anything) let GCC and clang vectorize a branch-free scalar conversion
// even under GCC's -O2 cost model. The tail uses the same function, so every
// element is bit-identical to the scalar path. Internal to gqa_core.
#ifndef GQA_CORE_CONVERT_BLOCKED_H_
#define GQA_CORE_CONVERT_BLOCKED_H_

#include <cstddef>
#include <cstring>

#include "absl/types/span.h"
#include "core/log.h"

namespace gqa::internal {

// REQUIRES: in.size() == out.size().
template <typename In, typename Out, typename Convert>
void ConvertBlocked(absl::Span<const In> in, absl::Span<Out> out, Convert convert) {
  CHECK_EQ(in.size(), out.size());
  constexpr size_t kBlock = 64;
  const In* src = in.data();
  Out* dst = out.data();
  const size_t n = in.size();
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    Out staged[kBlock];
    for (size_t j = 0; j < kBlock; ++j) staged[j] = convert(src[i + j]);
    std::memcpy(dst + i, staged, sizeof(staged));
  }
  for (; i < n; ++i) dst[i] = convert(src[i]);
}

}  // namespace gqa::internal

#endif  // GQA_CORE_CONVERT_BLOCKED_H_
