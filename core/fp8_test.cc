#include "core/fp8.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr Fp8Overflow kSat = Fp8Overflow::kSaturating;
constexpr Fp8Overflow kNonSat = Fp8Overflow::kNonSaturating;

// The format under test, with everything the reference needs from the spec.
struct Format {
  const char* name;
  DType dtype;
  int exp_bits;
  int man_bits;
  int bias;
  bool has_inf;      // E5M2: S.11111.00 is inf, other all-ones exponents NaN
  uint8_t max_code;  // largest finite magnitude code
  uint8_t nan_code;  // positive NaN the encoder emits
  uint8_t (*encode)(float, Fp8Overflow);
  float (*decode)(uint8_t);
};

const Format kE4M3{.name = "E4M3",
                   .dtype = DType::kFp8E4M3,
                   .exp_bits = 4,
                   .man_bits = 3,
                   .bias = 7,
                   .has_inf = false,
                   .max_code = 0x7E,
                   .nan_code = 0x7F,
                   .encode = &FloatToFp8E4M3,
                   .decode = &Fp8E4M3ToFloat};
const Format kE5M2{.name = "E5M2",
                   .dtype = DType::kFp8E5M2,
                   .exp_bits = 5,
                   .man_bits = 2,
                   .bias = 15,
                   .has_inf = true,
                   .max_code = 0x7B,
                   .nan_code = 0x7E,
                   .encode = &FloatToFp8E5M2,
                   .decode = &Fp8E5M2ToFloat};

// The spec's value of `code`, from its sign/exponent/mantissa fields.
double SpecValue(const Format& f, int code) {
  const int sign = code >> 7;
  const int exp = (code >> f.man_bits) & ((1 << f.exp_bits) - 1);
  const int man = code & ((1 << f.man_bits) - 1);
  const int max_exp = (1 << f.exp_bits) - 1;
  const int max_man = (1 << f.man_bits) - 1;
  double magnitude;
  if (f.has_inf && exp == max_exp) {
    magnitude = man == 0 ? std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  } else if (!f.has_inf && exp == max_exp && man == max_man) {
    magnitude = std::numeric_limits<double>::quiet_NaN();
  } else if (exp == 0) {
    magnitude = std::ldexp(man, 1 - f.bias - f.man_bits);
  } else {
    magnitude = std::ldexp((1 << f.man_bits) + man, exp - f.bias - f.man_bits);
  }
  return sign ? -magnitude : magnitude;
}

uint32_t Bits(float v) { return std::bit_cast<uint32_t>(v); }

// Slow reference encoder: the nearest value, by brute force over all
// non-negative finite codes plus the first step past the maximum (the value
// the exponent range would give next: 480 = odd mantissa 111 for E4M3, 2^16 =
// even for E5M2), ties to the even code. Landing on that extra step, or
// beyond it, is overflow. Distances are exact in double near the midpoints.
class ReferenceEncoder {
 public:
  explicit ReferenceEncoder(const Format& f) : f_(f) {
    for (int code = 0; code <= f.max_code; ++code) values_.push_back(SpecValue(f, code));
    const double max_val = values_[f.max_code];
    values_.push_back(max_val + (max_val - values_[f.max_code - 1]));
  }

  uint8_t Encode(float x, Fp8Overflow mode) const {
    const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
    if (std::isnan(x)) return sign | f_.nan_code;
    const int overflowed =
        mode == kSat ? f_.max_code : (f_.has_inf ? f_.max_code + 1 : f_.nan_code);
    const int overflow_code = f_.max_code + 1;  // index of the extra step
    const double ax = std::fabs(static_cast<double>(x));
    if (ax >= values_[overflow_code]) return static_cast<uint8_t>(sign | overflowed);
    int best = 0;
    for (int code = 1; code <= overflow_code; ++code) {
      const double dist = std::fabs(ax - values_[code]);
      const double best_dist = std::fabs(ax - values_[best]);
      if (dist < best_dist || (dist == best_dist && code % 2 == 0)) best = code;
    }
    return static_cast<uint8_t>(sign | (best == overflow_code ? overflowed : best));
  }

 private:
  const Format& f_;
  std::vector<double> values_;  // index = code, then the extra step
};

class Fp8Test : public ::testing::TestWithParam<Format> {};

TEST_P(Fp8Test, AllCodesDecodeToSpecValue) {
  const Format& f = GetParam();
  std::vector<uint8_t> codes(256);
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<uint8_t>(c);
  std::vector<float> bulk(256);
  DecodeFp8(f.dtype, codes, absl::MakeSpan(bulk));
  int num_nan = 0;
  for (int c = 0; c < 256; ++c) {
    SCOPED_TRACE(testing::Message() << "code=0x" << std::hex << c);
    const double want = SpecValue(f, c);
    const float got = f.decode(static_cast<uint8_t>(c));
    if (std::isnan(want)) {
      ++num_nan;
      EXPECT_TRUE(std::isnan(got));
      EXPECT_TRUE(std::isnan(bulk[c]));
    } else {
      EXPECT_EQ(static_cast<double>(got), want);
      EXPECT_EQ(Bits(bulk[c]), Bits(got));
    }
    EXPECT_EQ(std::signbit(got), c >= 0x80);
  }
  EXPECT_EQ(num_nan, f.has_inf ? 6 : 2);
}

TEST(Fp8DecodeTest, SpecAnchors) {
  EXPECT_EQ(Fp8E4M3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x78), 256.0f);  // S.1111.000 is a normal number
  EXPECT_EQ(Fp8E4M3ToFloat(0x01), 0x1p-9f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x08), 0x1p-6f);
  EXPECT_TRUE(std::isnan(Fp8E4M3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(Fp8E4M3ToFloat(0xFF)));
  EXPECT_EQ(Fp8E5M2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(Fp8E5M2ToFloat(0x7C), kInf);
  EXPECT_EQ(Fp8E5M2ToFloat(0xFC), -kInf);
  EXPECT_EQ(Fp8E5M2ToFloat(0x01), 0x1p-16f);
  for (uint8_t nan : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) {
    EXPECT_TRUE(std::isnan(Fp8E5M2ToFloat(nan)));
  }
  // Scalar conversions are usable in constant expressions.
  static_assert(Fp8E4M3ToFloat(0x7E) == 448.0f);
  static_assert(FloatToFp8E4M3(464.0f, Fp8Overflow::kNonSaturating) == 0x7E);
  static_assert(FloatToFp8E5M2(61440.0f, Fp8Overflow::kNonSaturating) == 0x7C);
}

TEST_P(Fp8Test, EveryMidpointRoundsToEvenAndNeighborsToNearer) {
  const Format& f = GetParam();
  for (int lo = 0; lo < f.max_code; ++lo) {
    const float v_lo = f.decode(static_cast<uint8_t>(lo));
    const float v_hi = f.decode(static_cast<uint8_t>(lo + 1));
    const float mid = (v_lo + v_hi) / 2;  // exact: FP8 values have <= 4 significant bits
    ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(v_lo) + v_hi) / 2);
    const uint8_t even = static_cast<uint8_t>(lo % 2 == 0 ? lo : lo + 1);
    for (Fp8Overflow mode : {kNonSat, kSat}) {
      SCOPED_TRACE(testing::Message() << "lo=0x" << std::hex << lo << " mid=" << mid);
      EXPECT_EQ(f.encode(mid, mode), even);
      EXPECT_EQ(f.encode(-mid, mode), 0x80 | even);
      EXPECT_EQ(f.encode(std::nextafter(mid, 0.0f), mode), lo);
      EXPECT_EQ(f.encode(std::nextafter(mid, kInf), mode), lo + 1);
      EXPECT_EQ(f.encode(-std::nextafter(mid, kInf), mode), 0x80 | (lo + 1));
      EXPECT_EQ(f.encode(v_lo, mode), lo);
      EXPECT_EQ(f.encode(std::nextafter(v_hi, 0.0f), mode), lo + 1);
    }
  }
}

TEST_P(Fp8Test, RoundTripsEveryNonNanCode) {
  const Format& f = GetParam();
  for (int c = 0; c < 256; ++c) {
    const float v = f.decode(static_cast<uint8_t>(c));
    if (std::isnan(v)) continue;
    EXPECT_EQ(f.encode(v, kNonSat), c) << c;
    if (!std::isinf(v)) {
      EXPECT_EQ(f.encode(v, kSat), c) << c;
    }
  }
}

TEST(Fp8EncodeTest, E4M3OverflowThreshold) {
  // 448 = 1.110b * 2^8; the next step would be 480 = 1.111b * 2^8 (NaN's code),
  // so the midpoint 464 is a tie that goes to the even mantissa 110: 448.
  const float above = std::nextafter(464.0f, kInf);
  const float below = std::nextafter(464.0f, 0.0f);
  for (float sign : {1.0f, -1.0f}) {
    const uint8_t s = sign < 0 ? 0x80 : 0x00;
    EXPECT_EQ(FloatToFp8E4M3(sign * 448.0f, kNonSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * 449.0f, kNonSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * below, kNonSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * 464.0f, kNonSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * 464.0f, kSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * above, kNonSat), s | 0x7F);  // NaN, no inf
    EXPECT_EQ(FloatToFp8E4M3(sign * above, kSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * 480.0f, kNonSat), s | 0x7F);
    EXPECT_EQ(FloatToFp8E4M3(sign * 1e30f, kNonSat), s | 0x7F);
    EXPECT_EQ(FloatToFp8E4M3(sign * 1e30f, kSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * std::numeric_limits<float>::max(), kSat), s | 0x7E);
    EXPECT_EQ(FloatToFp8E4M3(sign * kInf, kNonSat), s | 0x7F);
    EXPECT_EQ(FloatToFp8E4M3(sign * kInf, kSat), s | 0x7E);
  }
}

TEST(Fp8EncodeTest, E5M2OverflowThreshold) {
  // 57344 = 1.11b * 2^15; the next step is 2^16 (even), so the tie at 61440
  // overflows, as 65520 does in binary16.
  const float above = std::nextafter(61440.0f, kInf);
  const float below = std::nextafter(61440.0f, 0.0f);
  for (float sign : {1.0f, -1.0f}) {
    const uint8_t s = sign < 0 ? 0x80 : 0x00;
    EXPECT_EQ(FloatToFp8E5M2(sign * 57344.0f, kNonSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * below, kNonSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * below, kSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * 61440.0f, kNonSat), s | 0x7C);  // inf
    EXPECT_EQ(FloatToFp8E5M2(sign * 61440.0f, kSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * above, kNonSat), s | 0x7C);
    EXPECT_EQ(FloatToFp8E5M2(sign * above, kSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * 1e30f, kNonSat), s | 0x7C);
    EXPECT_EQ(FloatToFp8E5M2(sign * 1e30f, kSat), s | 0x7B);
    EXPECT_EQ(FloatToFp8E5M2(sign * kInf, kNonSat), s | 0x7C);  // inf stays inf
    EXPECT_EQ(FloatToFp8E5M2(sign * kInf, kSat), s | 0x7B);     // SATFINITE: clamps
  }
}

TEST(Fp8EncodeTest, NanSignedZeroAndTinyValues) {
  const float nans[] = {std::numeric_limits<float>::quiet_NaN(),
                        std::bit_cast<float>(0x7F800001u),  // signaling, tiny payload
                        std::bit_cast<float>(0x7FBFFFFFu), std::bit_cast<float>(0x7FFFFFFFu)};
  for (float nan : nans) {
    for (Fp8Overflow mode : {kNonSat, kSat}) {
      EXPECT_EQ(FloatToFp8E4M3(nan, mode), 0x7F);
      EXPECT_EQ(FloatToFp8E4M3(-nan, mode), 0xFF);
      EXPECT_EQ(FloatToFp8E5M2(nan, mode), 0x7E);
      EXPECT_EQ(FloatToFp8E5M2(-nan, mode), 0xFE);
      EXPECT_TRUE(std::isnan(Fp8E5M2ToFloat(FloatToFp8E5M2(nan, mode))));
    }
  }
  const float min_f32_subnormal = std::numeric_limits<float>::denorm_min();
  for (Fp8Overflow mode : {kNonSat, kSat}) {
    EXPECT_EQ(FloatToFp8E4M3(0.0f, mode), 0x00);
    EXPECT_EQ(FloatToFp8E4M3(-0.0f, mode), 0x80);
    EXPECT_EQ(FloatToFp8E5M2(0.0f, mode), 0x00);
    EXPECT_EQ(FloatToFp8E5M2(-0.0f, mode), 0x80);
    EXPECT_EQ(FloatToFp8E4M3(min_f32_subnormal, mode), 0x00);
    EXPECT_EQ(FloatToFp8E4M3(-min_f32_subnormal, mode), 0x80);
    EXPECT_EQ(FloatToFp8E5M2(-min_f32_subnormal, mode), 0x80);
    // Half the smallest subnormal is a tie with zero: to even, zero.
    EXPECT_EQ(FloatToFp8E4M3(0x1p-10f, mode), 0x00);
    EXPECT_EQ(FloatToFp8E4M3(std::nextafter(0x1p-10f, 1.0f), mode), 0x01);
    EXPECT_EQ(FloatToFp8E4M3(3 * 0x1p-10f, mode), 0x02);  // tie 1|2 -> 2
    EXPECT_EQ(FloatToFp8E5M2(0x1p-17f, mode), 0x00);
    EXPECT_EQ(FloatToFp8E5M2(-std::nextafter(0x1p-17f, 1.0f), mode), 0x81);
    // Largest subnormal rounding up into the smallest normal.
    EXPECT_EQ(FloatToFp8E4M3(std::nextafter(0x1p-6f, 0.0f), mode), 0x08);
    EXPECT_EQ(FloatToFp8E5M2(std::nextafter(0x1p-14f, 0.0f), mode), 0x04);
  }
}

// Floats spread over many binades, including FP8-subnormal, f32-subnormal,
// huge, inf and NaN inputs.
std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> out(n);
  for (float& v : out) {
    const uint32_t r = static_cast<uint32_t>(rng());
    const uint32_t sign = r & 0x80000000u;
    const uint32_t mantissa = static_cast<uint32_t>(rng()) & 0x7FFFFFu;
    uint32_t exp;
    switch (r & 3) {
      case 0:
        exp = static_cast<uint32_t>(rng() % 256);  // anything, subnormal f32 to NaN
        break;
      default:
        exp =
            static_cast<uint32_t>(127 - 30 + rng() % 50);  // 2^-30 .. 2^19: around both FP8 ranges
        break;
    }
    v = std::bit_cast<float>(sign | (exp << 23) | mantissa);
  }
  return out;
}

TEST_P(Fp8Test, MillionRandomFloatsMatchReference) {
  const Format& f = GetParam();
  const std::vector<float> values = RandomFloats(1'000'000, 20240611);
  const ReferenceEncoder reference(f);
  int failures = 0;
  for (float x : values) {
    for (Fp8Overflow mode : {kNonSat, kSat}) {
      const uint8_t want = reference.Encode(x, mode);
      const uint8_t got = f.encode(x, mode);
      if (got != want && ++failures <= 10) {
        ADD_FAILURE() << f.name << " x=" << x << " bits=0x" << std::hex << Bits(x)
                      << " mode=" << static_cast<int>(mode) << " got=0x" << int{got} << " want=0x"
                      << int{want};
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(Fp8Test, BulkMatchesScalar) {
  const Format& f = GetParam();
  const std::vector<float> values = RandomFloats(4099, 7);
  for (size_t n : {0, 1, 7, 31, 63, 64, 65, 129, 1000, 4099}) {
    absl::Span<const float> in(values.data(), n);
    std::vector<uint8_t> codes(n);
    for (Fp8Overflow mode : {kNonSat, kSat}) {
      EncodeFp8(f.dtype, in, absl::MakeSpan(codes), mode);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(codes[i], f.encode(in[i], mode)) << "n=" << n << " i=" << i;
    }
    std::vector<float> decoded(n);
    DecodeFp8(f.dtype, codes, absl::MakeSpan(decoded));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(Bits(decoded[i]), Bits(f.decode(codes[i]))) << "n=" << n << " i=" << i;
    }
  }
}

TEST_P(Fp8Test, ScaleForMakesEveryValueFit) {
  const Format& f = GetParam();
  const float max_finite = Fp8MaxFinite(f.dtype);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<float> values(1 + rng() % 130);
    const int exp = static_cast<int>(rng() % 250) - 140;  // f32 subnormal to huge
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (float& v : values) v = std::ldexp(unit(rng), exp);
    // amax in [2^exp, 2^(exp+1)) with a random mantissa: about 8% of those
    // need the scale nudged up an ulp past amax / max_finite.
    const float amax_mantissa = 1.0f + std::fabs(unit(rng));
    values[rng() % values.size()] = std::ldexp(trial % 2 ? amax_mantissa : -amax_mantissa, exp);
    float amax = 0;
    for (float v : values) amax = std::max(amax, std::fabs(v));
    if (amax == 0) continue;
    const float scale = Fp8ScaleFor(values, f.dtype);
    SCOPED_TRACE(testing::Message() << "amax=" << amax << " scale=" << scale);
    ASSERT_TRUE(std::isnormal(scale));
    for (float v : values) {
      ASSERT_LE(std::fabs(v / scale), max_finite);
      ASSERT_EQ(f.encode(v / scale, kNonSat) & 0x7F, f.encode(v / scale, kSat) & 0x7F);
    }
    // Smallest such scale: one ulp less no longer fits (unless clamped to FLT_MIN).
    if (scale > std::numeric_limits<float>::min()) {
      EXPECT_GT(amax / std::nextafter(scale, 0.0f), max_finite);
    }
  }
}

TEST(Fp8ScaleForTest, DocumentedSpecialCases) {
  const std::vector<float> empty;
  EXPECT_EQ(Fp8ScaleFor(empty, DType::kFp8E4M3), 1.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{0.0f, -0.0f}, DType::kFp8E4M3), 1.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{1.0f, kInf}, DType::kFp8E5M2), 1.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{1.0f, -std::nanf("")}, DType::kFp8E4M3), 1.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{1.0f, -896.0f}, DType::kFp8E4M3), 2.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{57344.0f * 4}, DType::kFp8E5M2), 4.0f);
  EXPECT_EQ(Fp8ScaleFor(std::vector<float>{1e-44f}, DType::kFp8E4M3),
            std::numeric_limits<float>::min());
  EXPECT_EQ(Fp8MaxFinite(DType::kF16), 0.0f);
  // fl(amax / 448) can be rounded down so that amax / scale > 448; the
  // returned scale never is.
  int num_nudged = 0;
  for (float amax = 1.0f; amax < 1.001f; amax = std::nextafter(amax, 2.0f)) {
    const float scale = Fp8ScaleFor(std::vector<float>{amax}, DType::kFp8E4M3);
    ASSERT_LE(amax / scale, kFp8E4M3Max) << amax;
    num_nudged += scale != amax / kFp8E4M3Max;
  }
  EXPECT_GT(num_nudged, 0);
}

TEST(Fp8DeathTest, NonFp8DtypeIsABug) {
  const std::vector<float> values = {1.0f};
  EXPECT_DEATH(Fp8ScaleFor(values, DType::kF16), "IsFp8");
  std::vector<uint8_t> out(2);
  EXPECT_DEATH(EncodeFp8E4M3(values, absl::MakeSpan(out), kSat), "in.size");
}

INSTANTIATE_TEST_SUITE_P(Formats, Fp8Test, ::testing::Values(kE4M3, kE5M2),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gqa
