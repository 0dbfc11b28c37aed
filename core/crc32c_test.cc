#include "core/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace gqa::crc32c {
namespace {

TEST(Crc32cTest, StandardCheckValue) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(ExtendPortable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(Value(""), 0u);
}

// Vectors from RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32cTest, Rfc3720Vectors) {
  std::string zeros(32, '\0');
  std::string ones(32, '\xFF');
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);
  EXPECT_EQ(Value(descending), 0x113FDB5Cu);
}

TEST(Crc32cTest, ExtendIsStreaming) {
  const std::string data = "The quick brown fox jumps over the lazy dog, twice over.";
  for (size_t split = 0; split <= data.size(); ++split) {
    const absl::string_view all(data);
    EXPECT_EQ(Extend(Value(all.substr(0, split)), all.substr(split)), Value(all)) << split;
  }
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(7);
  std::string buffer(4096 + 16, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  // Every alignment and many lengths, including the byte-step head and tail.
  for (size_t offset = 0; offset < 16; ++offset) {
    for (size_t n : {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 1000, 4096}) {
      const char* p = buffer.data() + offset;
      const uint32_t seed = static_cast<uint32_t>(rng());
      EXPECT_EQ(ExtendHardware(seed, p, n), ExtendPortable(seed, p, n))
          << "offset=" << offset << " n=" << n;
    }
  }
  EXPECT_EQ(ExtendHardware(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, DetectsASingleBitFlip) {
  std::string data(1000, 'x');
  const uint32_t before = Value(data);
  data[500] ^= 0x10;
  EXPECT_NE(Value(data), before);
}

}  // namespace
}  // namespace gqa::crc32c
