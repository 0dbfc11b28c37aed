// CRC-32C: a slicing-by-8 table implementation and an SSE4.2 one, picked once
// at run time.
#include "core/crc32c.h"

#include <bit>
#include <cstring>

#include "core/log.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace gqa::crc32c {
namespace {

static_assert(std::endian::native == std::endian::little,
              "CRC-32C word loads assume little-endian");

constexpr uint32_t kReflectedPoly = 0x82F63B78u;

// table[k][b]: the CRC register after byte b followed by k zero bytes, so
// eight table lookups advance the register by one 8-byte word.
struct Tables {
  uint32_t table[8][256];
};

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (kReflectedPoly & (0u - (crc & 1u)));
    t.table[0][b] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      const uint32_t prev = t.table[k - 1][b];
      t.table[k][b] = (prev >> 8) ^ t.table[0][prev & 0xFFu];
    }
  }
  return t;
}

constexpr Tables kTables = MakeTables();
static_assert(kTables.table[0][1] == 0xF26B8303u);

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t reg = crc ^ 0xFFFFFFFFu;
  // Byte steps up to an 8-byte boundary, then whole words.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    reg = _mm_crc32_u8(static_cast<uint32_t>(reg), *p++);
    --n;
  }
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof(w));
    reg = _mm_crc32_u64(reg, w[0]);
    reg = _mm_crc32_u64(reg, w[1]);
    reg = _mm_crc32_u64(reg, w[2]);
    reg = _mm_crc32_u64(reg, w[3]);
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof(w));
    reg = _mm_crc32_u64(reg, w);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    reg = _mm_crc32_u8(static_cast<uint32_t>(reg), *p++);
    --n;
  }
  return static_cast<uint32_t>(reg) ^ 0xFFFFFFFFu;
}
#endif

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto& t = kTables.table;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t reg = crc ^ 0xFFFFFFFFu;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    const uint32_t lo = static_cast<uint32_t>(word) ^ reg;
    const uint32_t hi = static_cast<uint32_t>(word >> 32);
    reg = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    reg = t[0][(reg ^ *p++) & 0xFFu] ^ (reg >> 8);
    --n;
  }
  return reg ^ 0xFFFFFFFFu;
}

bool HardwareAvailable() {
#if defined(__x86_64__)
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
#else
  return false;
#endif
}

uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  CHECK(HardwareAvailable()) << "ExtendHardware needs SSE4.2";
#if defined(__x86_64__)
  return ExtendSse42(crc, static_cast<const uint8_t*>(data), n);
#else
  return ExtendPortable(crc, data, n);
#endif
}

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
#if defined(__x86_64__)
  if (HardwareAvailable()) return ExtendSse42(crc, static_cast<const uint8_t*>(data), n);
#endif
  return ExtendPortable(crc, data, n);
}

}  // namespace gqa::crc32c
