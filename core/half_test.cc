#include "core/half.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

uint32_t Bits(float v) { return std::bit_cast<uint32_t>(v); }

// A 16-bit float format: 1 sign bit, `exp_bits`, `man_bits`, IEEE semantics.
struct Format {
  const char* name;
  int exp_bits;
  int man_bits;
  int bias;
  uint16_t (*encode)(float);
  float (*decode)(uint16_t);
  void (*bulk_encode)(absl::Span<const float>, absl::Span<uint16_t>);
  void (*bulk_decode)(absl::Span<const uint16_t>, absl::Span<float>);
};

const Format kF16{"F16", 5, 10, 15, &FloatToHalf, &HalfToFloat, &EncodeF16, &DecodeF16};
const Format kBf16{"BF16", 8, 7, 127, &FloatToBf16, &Bf16ToFloat, &EncodeBf16, &DecodeBf16};

// The IEEE value of `code` from its fields, computed in double.
double SpecValue(const Format& f, uint32_t code) {
  const bool sign = (code >> 15) & 1;
  const int exp = static_cast<int>((code >> f.man_bits) & ((1u << f.exp_bits) - 1));
  const int man = static_cast<int>(code & ((1u << f.man_bits) - 1));
  double magnitude;
  if (exp == (1 << f.exp_bits) - 1) {
    magnitude = man == 0 ? std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  } else if (exp == 0) {
    magnitude = std::ldexp(man, 1 - f.bias - f.man_bits);
  } else {
    magnitude = std::ldexp((1 << f.man_bits) + man, exp - f.bias - f.man_bits);
  }
  return sign ? -magnitude : magnitude;
}

uint16_t InfCode(const Format& f) {
  return static_cast<uint16_t>(((1u << f.exp_bits) - 1) << f.man_bits);
}

// Slow reference encoder: binary search among the sorted non-negative finite
// values plus inf standing for the next step 2^(emax+1) (an even code), ties
// to the even code.
class ReferenceEncoder {
 public:
  explicit ReferenceEncoder(const Format& f) : inf_code_(InfCode(f)) {
    for (uint32_t c = 0; c < inf_code_; ++c) values_.push_back(SpecValue(f, c));
    values_.push_back(std::ldexp(1.0, (1 << f.exp_bits) - 1 - f.bias));
  }
  // REQUIRES: x is not NaN.
  uint16_t Encode(float x) const {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double ax = std::fabs(static_cast<double>(x));
    if (ax >= values_.back()) return sign | inf_code_;
    const size_t hi = std::upper_bound(values_.begin(), values_.end(), ax) - values_.begin();
    const size_t lo = hi - 1;  // values_[lo] <= ax < values_[hi]
    const double d_lo = ax - values_[lo];
    const double d_hi = values_[hi] - ax;
    const size_t pick = d_lo < d_hi ? lo : d_hi < d_lo ? hi : (lo % 2 == 0 ? lo : hi);
    return static_cast<uint16_t>(sign | pick);
  }

 private:
  uint16_t inf_code_;
  std::vector<double> values_;  // index = code
};

class HalfTest : public ::testing::TestWithParam<Format> {};

TEST_P(HalfTest, AllCodesDecodeToSpecValueAndRoundTrip) {
  const Format& f = GetParam();
  std::vector<uint16_t> codes(65536);
  for (uint32_t c = 0; c < 65536; ++c) codes[c] = static_cast<uint16_t>(c);
  std::vector<float> bulk(65536);
  f.bulk_decode(codes, absl::MakeSpan(bulk));
  std::vector<uint16_t> reencoded(65536);
  f.bulk_encode(bulk, absl::MakeSpan(reencoded));
  const uint16_t quiet_bit = static_cast<uint16_t>(1u << (f.man_bits - 1));
  for (uint32_t c = 0; c < 65536; ++c) {
    SCOPED_TRACE(testing::Message() << f.name << " code=0x" << std::hex << c);
    const double want = SpecValue(f, c);
    const float got = f.decode(static_cast<uint16_t>(c));
    ASSERT_EQ(Bits(bulk[c]), Bits(got));
    ASSERT_EQ(std::signbit(got), c >= 0x8000);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got));
      // NaN stays NaN, quieted, with sign and payload.
      ASSERT_EQ(f.encode(got), c | quiet_bit);
      ASSERT_EQ(reencoded[c], c | quiet_bit);
    } else {
      ASSERT_EQ(static_cast<double>(got), want);
      ASSERT_EQ(f.encode(got), c);
      ASSERT_EQ(reencoded[c], c);
    }
  }
}

TEST_P(HalfTest, EveryMidpointRoundsToEvenAndNeighborsToNearer) {
  const Format& f = GetParam();
  const uint32_t inf_code = InfCode(f);
  for (uint32_t lo = 0; lo < inf_code; ++lo) {
    // For the largest finite value the upper neighbor is 2^(emax+1) = inf.
    const double v_lo = SpecValue(f, lo);
    const double v_hi =
        lo + 1 < inf_code ? SpecValue(f, lo + 1) : std::ldexp(1.0, (1 << f.exp_bits) - 1 - f.bias);
    const float mid = static_cast<float>((v_lo + v_hi) / 2);
    ASSERT_EQ(static_cast<double>(mid), (v_lo + v_hi) / 2) << "midpoint not exact in f32";
    const uint32_t even = lo % 2 == 0 ? lo : lo + 1;
    SCOPED_TRACE(testing::Message() << f.name << " lo=0x" << std::hex << lo);
    ASSERT_EQ(f.encode(mid), even);
    ASSERT_EQ(f.encode(-mid), 0x8000 | even);
    ASSERT_EQ(f.encode(std::nextafter(mid, 0.0f)), lo);
    ASSERT_EQ(f.encode(std::nextafter(mid, kInf)), lo + 1);
    ASSERT_EQ(f.encode(-std::nextafter(mid, kInf)), 0x8000 | (lo + 1));
  }
}

TEST(HalfEdgesTest, F16SubnormalsOverflowAndSpecials) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);  // tie with zero -> even
  EXPECT_EQ(FloatToHalf(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(3 * 0x1p-25f), 0x0002);  // tie 1|2 -> 2
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(FloatToHalf(std::nextafter(0x1p-14f, 0.0f)), 0x0400);  // rounds up to min normal
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(std::nextafter(65520.0f, 0.0f)), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // tie with 2^16 -> even -> inf
  EXPECT_EQ(FloatToHalf(-1e10f), 0xFC00);
  EXPECT_EQ(FloatToHalf(kInf), 0x7C00);
  EXPECT_EQ(FloatToHalf(-kInf), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::bit_cast<float>(0x7F800001u)), 0x7E00);  // sNaN: not inf
  EXPECT_EQ(FloatToHalf(std::bit_cast<float>(0xFFC00000u)), 0xFE00);
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);
  static_assert(FloatToHalf(1.0f) == 0x3C00 && HalfToFloat(0xC000) == -2.0f);
  static_assert(FloatToBf16(1.0f) == 0x3F80 && Bf16ToFloat(0xC000) == -2.0f);
}

TEST(HalfEdgesTest, Bf16RoundingOverflowAndNan) {
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x00008000u)), 0x0000);  // subnormal tie
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x00018000u)), 0x0002);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(FloatToBf16(-kInf), 0xFF80);
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  // NaNs whose payload sits in the low 16 bits must not round into inf.
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x7FFFFFFFu)), 0x7FFF);
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0xFF80FFFFu)), 0xFFC0);
}

// Floats over every binade (f32 subnormals to NaN) plus a dense band around
// the 16-bit format's subnormal and overflow ranges.
std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> out(n);
  for (float& v : out) {
    const uint32_t r = static_cast<uint32_t>(rng());
    const uint32_t exp = (r & 1) ? rng() % 256 : 127 - 30 + rng() % 50;
    v = std::bit_cast<float>((r & 0x80000000u) | (exp << 23) |
                             (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
  }
  return out;
}

TEST_P(HalfTest, MillionRandomFloatsMatchReference) {
  const Format& f = GetParam();
  const ReferenceEncoder reference(f);
  const std::vector<float> values = RandomFloats(1'000'000, 99);
  int failures = 0;
  for (float x : values) {
    const uint16_t got = f.encode(x);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(f.decode(got)));
      continue;
    }
    const uint16_t want = reference.Encode(x);
    if (got != want && ++failures <= 10) {
      ADD_FAILURE() << f.name << " x=" << x << " bits=0x" << std::hex << Bits(x) << " got=0x" << got
                    << " want=0x" << want;
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(HalfTest, BulkMatchesScalar) {
  const Format& f = GetParam();
  const std::vector<float> values = RandomFloats(4099, 5);
  for (size_t n : {0, 1, 15, 63, 64, 65, 200, 4099}) {
    absl::Span<const float> in(values.data(), n);
    std::vector<uint16_t> codes(n);
    f.bulk_encode(in, absl::MakeSpan(codes));
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(codes[i], f.encode(in[i])) << "n=" << n << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, HalfTest, ::testing::Values(kF16, kBf16),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gqa
