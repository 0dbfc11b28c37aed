#include "core/hash.h"

#include <openssl/evp.h>

#include "core/log.h"

namespace gqa {

struct Sha256Hasher::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256Hasher::Sha256Hasher() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  CHECK(state_->ctx != nullptr) << "EVP_MD_CTX_new failed (out of memory)";
  CHECK_EQ(EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr), 1);
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(state_->ctx); }

void Sha256Hasher::Update(absl::Span<const uint8_t> bytes) {
  CHECK_EQ(EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()), 1);
}

void Sha256Hasher::Update(absl::string_view bytes) {
  CHECK_EQ(EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size()), 1);
}

void Sha256Hasher::UpdateU64(uint64_t value) {
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(value >> (8 * i));
  Update(absl::MakeConstSpan(le, 8));
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest digest;
  unsigned int length = 0;
  CHECK_EQ(EVP_DigestFinal_ex(state_->ctx, digest.data(), &length), 1);
  CHECK_EQ(length, digest.size());
  return digest;
}

Sha256Digest Sha256(absl::string_view bytes) {
  Sha256Hasher hasher;
  hasher.Update(bytes);
  return hasher.Finish();
}

std::string DigestToHex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(64, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return hex;
}

}  // namespace gqa
