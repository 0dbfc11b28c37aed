// SHA-256 (FIPS 180-4) through OpenSSL's EVP interface, for block identity and
// file checksums. A cryptographic hash is required: with a fast
// non-cryptographic hash one tenant could forge another tenant's prefix id.
// Sha256Hasher is thread-compatible; Sha256() is thread-safe.
#ifndef GQA_CORE_HASH_H_
#define GQA_CORE_HASH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hashing: Update() any number of times, then Finish() once.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::Span<const uint8_t> bytes);
  void Update(absl::string_view bytes);
  // Appends `value` as 8 little-endian bytes.
  void UpdateU64(uint64_t value);
  // REQUIRES: called once.
  Sha256Digest Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Sha256Digest Sha256(absl::string_view bytes);

// Lower-case hex, 64 characters.
std::string DigestToHex(const Sha256Digest& digest);

}  // namespace gqa

#endif  // GQA_CORE_HASH_H_
