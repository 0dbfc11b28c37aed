// CRC-32C (Castagnoli): the checksum of kvstore payloads and disk records.
// Polynomial 0x1EDC6F41 (reflected 0x82F63B78), initial value and final xor
// 0xFFFFFFFF; Value("123456789") == 0xE3069283. Uses the SSE4.2 crc32
// instruction when the CPU has it (checked once at run time), else a
// slicing-by-8 table; both give identical results. Pure functions: thread-safe.
#ifndef GQA_CORE_CRC32C_H_
#define GQA_CORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace gqa::crc32c {

// The CRC-32C of data[0, n) appended to a byte string whose CRC-32C is
// `crc` (0 for the empty string), so Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Extend(uint32_t crc, absl::string_view data) {
  return Extend(crc, data.data(), data.size());
}

// The CRC-32C of data.
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(absl::string_view data) { return Extend(0, data.data(), data.size()); }

// The two implementations behind Extend, exposed so tests can check that
// they agree. ExtendHardware REQUIRES HardwareAvailable().
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
// Whether this CPU has the SSE4.2 crc32 instruction (always false off x86-64).
bool HardwareAvailable();

}  // namespace gqa::crc32c

#endif  // GQA_CORE_CRC32C_H_
