#include "worker/backend/cpu/kv_write.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/fp8.h"
#include "core/half.h"
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"

namespace gqa::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();

// A cache of num_blocks blocks of every dtype's storage, plus scales.
struct Storage {
  std::vector<uint8_t> k, v;
  std::vector<float> k_scale, v_scale;
  PagedKvView view;

  Storage(DType dtype, int64_t num_blocks, int64_t kv_heads, int64_t dim, int64_t block_size) {
    const int64_t elems = num_blocks * kv_heads * block_size * dim;
    k.assign(elems * DTypeSize(dtype), 0xAB);
    v.assign(k.size(), 0xCD);
    k_scale.assign(num_blocks * kv_heads * block_size, -3.0f);
    v_scale.assign(k_scale.size(), -4.0f);
    view = PagedKvView{k.data(), v.data(), k_scale.data(), v_scale.data(), dtype, num_blocks,
                       kv_heads, dim,      block_size};
  }
};

float Decode(DType dtype, uint8_t code) {
  return dtype == DType::kFp8E4M3 ? Fp8E4M3ToFloat(code) : Fp8E5M2ToFloat(code);
}

class Fp8WriteTest : public ::testing::TestWithParam<DType> {};

// Every element within the documented bound of its input: relative 2^-4
// (E4M3) / 2^-3 (E5M2) in the normal range, half the subnormal step times
// the scale below it; the scale is amax / max finite (within 1e-6).
// Rows include outliers 1e4 and 1e30 times the rest, FLT_MAX and subnormals.
TEST_P(Fp8WriteTest, StoresPerTokenScaledCodesWithinTheBound) {
  const DType dtype = GetParam();
  const double delta = dtype == DType::kFp8E4M3 ? 0x1p-4 : 0x1p-3;
  const double eta = dtype == DType::kFp8E4M3 ? 0x1p-10 : 0x1p-17;
  const int64_t kv_heads = 2, dim = 16, tokens = 7, row = kv_heads * dim;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> k(tokens * row), v(tokens * row);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  k[1 * row + 3] *= 1e4f;                                  // an outlier
  v[2 * row + 17] = 1e30f;                                 // a huge one
  k[3 * row + 0] = kMax;                                   // the largest float
  for (int i = 0; i < dim; ++i) v[4 * row + i] *= 1e-40f;  // subnormal floats
  for (int i = 0; i < row; ++i) k[5 * row + i] = 0.0f;     // all zeros
  for (int i = 0; i < row; ++i) v[6 * row + i] *= 1e-3f;   // small values
  Storage cache(dtype, 2, kv_heads, dim, 4);
  const std::vector<int64_t> slots = {5, 0, 7, 2, 4, 1, 6};
  ASSERT_TRUE(WriteKv({k.data(), v.data(), slots.data(), tokens, cache.view}).ok());
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < kv_heads; ++h) {
      const int64_t at = (slots[t] / 4 * kv_heads + h) * 4 + slots[t] % 4;
      for (const bool keys : {true, false}) {
        const float* in = (keys ? k : v).data() + t * row + h * dim;
        const float scale = (keys ? cache.k_scale : cache.v_scale)[at];
        const uint8_t* codes = (keys ? cache.k : cache.v).data() + at * dim;
        double amax = 0;
        for (int64_t d = 0; d < dim; ++d) amax = std::max(amax, std::abs(double{in[d]}));
        const double expected = amax == 0 ? 1.0
                                          : std::max<double>(amax / Fp8MaxFinite(dtype),
                                                             std::numeric_limits<float>::min());
        ASSERT_NEAR(scale, expected, expected * 1e-6) << "token " << t << " head " << h;
        for (int64_t d = 0; d < dim; ++d) {
          const double stored = double{Decode(dtype, codes[d])} * scale;
          ASSERT_TRUE(std::isfinite(stored)) << "token " << t << " d " << d;
          const double bound = std::max(delta * std::abs(in[d]), eta * scale) * (1 + 1e-6);
          ASSERT_LE(std::abs(stored - in[d]), bound)
              << "token " << t << " head " << h << " d " << d;
        }
      }
    }
  }
}

// inf saturates to +-max finite and the scale comes from the finite
// elements; NaN stays NaN in its own element only; finite inputs beyond any
// range never make NaN or inf.
TEST_P(Fp8WriteTest, NonFiniteInputsSaturateOrStayNaN) {
  const DType dtype = GetParam();
  const int64_t dim = 8;
  std::vector<float> k = {1.0f, -2.0f, kInf, -kInf, 0.5f, 4.0f, -0.25f, 3.0f};
  std::vector<float> v = {
      1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, -kMax, kMax, -1e38f, 0.0f, 7.0f};
  Storage cache(dtype, 1, 1, dim, 4);
  const int64_t slot = 2;
  ASSERT_TRUE(WriteKv({k.data(), v.data(), &slot, 1, cache.view}).ok());
  const float k_scale = cache.k_scale[2], v_scale = cache.v_scale[2];
  EXPECT_NEAR(k_scale, 4.0 / Fp8MaxFinite(dtype), 1e-6);  // finite amax is 4
  const uint8_t* k_codes = cache.k.data() + 2 * dim;
  EXPECT_EQ(Decode(dtype, k_codes[2]), Fp8MaxFinite(dtype));
  EXPECT_EQ(Decode(dtype, k_codes[3]), -Fp8MaxFinite(dtype));
  EXPECT_NEAR(Decode(dtype, k_codes[0]) * k_scale, 1.0f, 0.125f);
  const uint8_t* v_codes = cache.v.data() + 2 * dim;
  for (int64_t d = 0; d < dim; ++d) {
    const double stored = double{Decode(dtype, v_codes[d])} * v_scale;  // 448 x scale > FLT_MAX
    if (d == 1) {
      EXPECT_TRUE(std::isnan(stored));
    } else {
      EXPECT_TRUE(std::isfinite(stored)) << "d " << d;
    }
  }
  EXPECT_NEAR(double{Decode(dtype, v_codes[4])} * v_scale, kMax, kMax * 1e-6);
}

TEST_P(Fp8WriteTest, RejectsMissingScalesAndBadSlotsWritingNothing) {
  const DType dtype = GetParam();
  Storage cache(dtype, 2, 1, 4, 4);
  const Storage untouched = cache;
  std::vector<float> rows(2 * 4, 1.0f);
  const int64_t slots[2] = {1, 8};  // 8 is past the 2 blocks of 4
  EXPECT_EQ(WriteKv({rows.data(), rows.data(), slots, 2, cache.view}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.k, untouched.k);  // slot 1 was not written either
  EXPECT_EQ(cache.k_scale, untouched.k_scale);
  PagedKvView no_scales = cache.view;
  no_scales.v_scale = nullptr;
  EXPECT_EQ(WriteKv({rows.data(), rows.data(), slots, 1, no_scales}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.k, untouched.k);
}

INSTANTIATE_TEST_SUITE_P(Fp8, Fp8WriteTest, ::testing::Values(DType::kFp8E4M3, DType::kFp8E5M2));

TEST(KvWriteTest, HalfTypesRoundToNearestEven) {
  const int64_t dim = 8;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  std::vector<float> k(dim), v(dim);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  for (const DType dtype : {DType::kF16, DType::kBF16}) {
    Storage cache(dtype, 1, 1, dim, 2);
    const int64_t slot = 1;
    ASSERT_TRUE(WriteKv({k.data(), v.data(), &slot, 1, cache.view}).ok());
    for (int64_t d = 0; d < dim; ++d) {
      uint16_t bits;
      std::memcpy(&bits, cache.k.data() + (dim + d) * 2, 2);
      EXPECT_EQ(bits, dtype == DType::kF16 ? FloatToHalf(k[d]) : FloatToBf16(k[d]));
      std::memcpy(&bits, cache.v.data() + (dim + d) * 2, 2);
      EXPECT_EQ(bits, dtype == DType::kF16 ? FloatToHalf(v[d]) : FloatToBf16(v[d]));
    }
    EXPECT_EQ(cache.k[0], 0xAB);  // slot 0 untouched
  }
}

// h2o: each KV head's row goes to the slot head_slot_mapping names for it.
TEST(KvWriteTest, HeadSlotMappingPlacesEachHeadsRow) {
  const int64_t kv_heads = 3, dim = 4, block_size = 2;
  for (const DType dtype : {DType::kF32, DType::kFp8E4M3}) {
    Storage cache(dtype, 4, kv_heads, dim, block_size);
    std::vector<float> k(2 * kv_heads * dim), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = static_cast<float>(i + 1);
      v[i] = -static_cast<float>(i + 1);
    }
    const int64_t slot_mapping[2] = {0, 1};  // ignored
    const int64_t head_slots[2 * kv_heads] = {5, 2, 7, 6, 3, 0};
    KvWriteParams write{k.data(), v.data(), slot_mapping, 2, cache.view};
    write.head_slot_mapping = head_slots;
    ASSERT_TRUE(WriteKv(write).ok());
    for (int64_t t = 0; t < 2; ++t) {
      for (int64_t h = 0; h < kv_heads; ++h) {
        const int64_t slot = head_slots[t * kv_heads + h];
        const int64_t at = (slot / block_size * kv_heads + h) * block_size + slot % block_size;
        for (int64_t d = 0; d < dim; ++d) {
          const float want = k[(t * kv_heads + h) * dim + d];
          float got;
          if (dtype == DType::kF32) {
            std::memcpy(&got, cache.k.data() + (at * dim + d) * 4, 4);
          } else {
            got = Decode(dtype, cache.k[at * dim + d]) * cache.k_scale[at];
          }
          EXPECT_NEAR(got, want, std::abs(want) * 0x1p-4) << "token " << t << " head " << h;
        }
      }
    }
    // Head 1 of token 0 went to slot 2, not slot 0: (block 0, head 1) is untouched.
    EXPECT_EQ(cache.k[(1 * block_size) * dim * DTypeSize(dtype)], 0xAB);
    const int64_t bad[2 * kv_heads] = {5, 2, 8, 6, 3, 0};  // 8 is past the 4 blocks of 2
    write.head_slot_mapping = bad;
    EXPECT_EQ(WriteKv(write).code(), absl::StatusCode::kInvalidArgument);
  }
}

// ---- CopyKvBlocks ----

class CopyBlocksTest : public ::testing::TestWithParam<DType> {};

TEST_P(CopyBlocksTest, CopiesWholeBlocksExactly) {
  const DType dtype = GetParam();
  const int64_t kv_heads = 3, dim = 8, block_size = 4, blocks = 6;
  Storage cache(dtype, blocks, kv_heads, dim, block_size);
  std::mt19937 rng(3);
  for (auto* bytes : {&cache.k, &cache.v}) {
    for (uint8_t& b : *bytes) b = static_cast<uint8_t>(rng() % 0x70);  // finite in every dtype
  }
  for (auto* scales : {&cache.k_scale, &cache.v_scale}) {
    for (float& s : *scales) s = static_cast<float>(rng() % 1000) / 7.0f;
  }
  const Storage before = cache;
  const int32_t src[2] = {4, 1}, dst[2] = {0, 5};
  ASSERT_TRUE(CopyKvBlocks({cache.view, src, dst, 2}).ok());
  const int64_t block_bytes = kv_heads * block_size * dim * DTypeSize(dtype);
  const int64_t block_scales = kv_heads * block_size;
  const bool fp8 = IsFp8(dtype);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t from = b == 0 ? 4 : b == 5 ? 1 : b;  // unchanged unless a destination
    for (const bool keys : {true, false}) {
      const auto& now = keys ? cache.k : cache.v;
      const auto& was = keys ? before.k : before.v;
      ASSERT_EQ(0, std::memcmp(now.data() + b * block_bytes, was.data() + from * block_bytes,
                               block_bytes))
          << "block " << b;
      const auto& scales = keys ? cache.k_scale : cache.v_scale;
      const auto& old = keys ? before.k_scale : before.v_scale;
      const int64_t scale_from = fp8 ? from : b;  // scales move only for FP8
      for (int64_t i = 0; i < block_scales; ++i) {
        ASSERT_EQ(scales[b * block_scales + i], old[scale_from * block_scales + i]);
      }
    }
  }
}

TEST_P(CopyBlocksTest, RejectsBadPairsCopyingNothing) {
  const DType dtype = GetParam();
  Storage cache(dtype, 4, 1, 4, 2);
  for (size_t i = 0; i < cache.k.size(); ++i) cache.k[i] = static_cast<uint8_t>(i);
  const Storage before = cache;
  struct Case {
    std::vector<int32_t> src, dst;
  };
  for (const Case& c : {Case{{0, 1}, {2, 4}},     // destination out of range
                        Case{{-1}, {2}},          // source out of range
                        Case{{2, 1}, {3, 3}},     // one destination twice
                        Case{{1}, {1}},           // a block onto itself
                        Case{{0, 2}, {2, 3}}}) {  // a destination that is also a source
    EXPECT_EQ(
        CopyKvBlocks({cache.view, c.src.data(), c.dst.data(), static_cast<int64_t>(c.src.size())})
            .code(),
        absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(cache.k, before.k);
  }
  if (IsFp8(dtype)) {
    PagedKvView no_scales = cache.view;
    no_scales.k_scale = nullptr;
    const int32_t src = 0, dst = 1;
    EXPECT_EQ(CopyKvBlocks({no_scales, &src, &dst, 1}).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(CopyBlocksTest, ThroughTheCpuBackend) {
  const DType dtype = GetParam();
  Storage cache(dtype, 3, 2, 4, 2);
  for (size_t i = 0; i < cache.v.size(); ++i) cache.v[i] = static_cast<uint8_t>(i % 0x70);
  const std::unique_ptr<Backend> backend = MakeCpuBackend({});
  const int32_t src = 2, dst = 0;
  ASSERT_TRUE(backend->CopyKvBlocks({cache.view, &src, &dst, 1}).ok());
  const int64_t block_bytes = cache.v.size() / 3;
  EXPECT_EQ(0, std::memcmp(cache.v.data(), cache.v.data() + 2 * block_bytes, block_bytes));
  EXPECT_EQ(backend->CopyKvBlocks({cache.view, &src, &src, 1}).code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, CopyBlocksTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                           DType::kFp8E5M2));

}  // namespace
}  // namespace gqa::cpu
