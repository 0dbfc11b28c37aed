#include "core/half.h"

#include <cstddef>
#include <cstring>

#include "core/log.h"

namespace gqa {
namespace {

// Applies `convert` element-wise in fixed-size blocks staged through a local
// array: the fixed trip count and the non-aliasing buffer let GCC and clang
// vectorize the branch-free scalar conversion even under GCC's -O2 cost model.
// The tail uses the same function, so every element is bit-identical to it.
// (fp8.cc has the same helper; core/ has no shared internal header for it.)
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

}  // namespace

void EncodeF16(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertBlocked(in, out, [](float v) { return FloatToHalf(v); });
}

void DecodeF16(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint16_t b) { return HalfToFloat(b); });
}

void EncodeBf16(absl::Span<const float> in, absl::Span<uint16_t> out) {
  ConvertBlocked(in, out, [](float v) { return FloatToBf16(v); });
}

void DecodeBf16(absl::Span<const uint16_t> in, absl::Span<float> out) {
  ConvertBlocked(in, out, [](uint16_t b) { return Bf16ToFloat(b); });
}

}  // namespace gqa
