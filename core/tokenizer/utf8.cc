#include "core/tokenizer/utf8.h"

namespace gqa {
namespace {

// The valid range of the first continuation byte after `lead` and the total
// sequence length (Unicode Table 3-7, well-formed UTF-8 byte sequences);
// length 0 for a byte that cannot start a sequence.
struct LeadInfo {
  int length;
  uint8_t lo;
  uint8_t hi;
};

LeadInfo InfoForLead(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Result of examining the bytes at `p[0..n)`.
enum class SeqState { kValid, kInvalid, kIncomplete };

// kValid: `*len` bytes form a character. kInvalid: the maximal invalid
// subpart is `*len` bytes (>= 1). kIncomplete: all `n` bytes are a valid
// prefix of a longer character.
SeqState Examine(const uint8_t* p, size_t n, size_t* len) {
  const LeadInfo info = InfoForLead(p[0]);
  if (info.length == 0) {
    *len = 1;
    return SeqState::kInvalid;
  }
  for (int k = 1; k < info.length; ++k) {
    if (static_cast<size_t>(k) >= n) return SeqState::kIncomplete;
    const uint8_t lo = k == 1 ? info.lo : 0x80;
    const uint8_t hi = k == 1 ? info.hi : 0xBF;
    if (p[k] < lo || p[k] > hi) {
      *len = k;
      return SeqState::kInvalid;
    }
  }
  *len = info.length;
  return SeqState::kValid;
}

char32_t CodepointOf(const uint8_t* p, size_t len) {
  switch (len) {
    case 1:
      return p[0];
    case 2:
      return ((p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3:
      return ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    default:
      return ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  }
}

}  // namespace

std::vector<Utf8Char> DecodeUtf8(absl::string_view text) {
  std::vector<Utf8Char> chars;
  chars.reserve(text.size());
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 1;
    const SeqState state = Examine(p + i, text.size() - i, &len);
    if (state == SeqState::kValid) {
      chars.push_back(
          {CodepointOf(p + i, len), static_cast<uint32_t>(i), static_cast<uint32_t>(len)});
      i += len;
    } else {
      // NOTE: one U+FFFD per byte (not per maximal subpart) keeps every
      // original byte addressable for byte-level BPE.
      chars.push_back({kReplacementChar, static_cast<uint32_t>(i), 1});
      ++i;
    }
  }
  return chars;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t Utf8SequenceLength(uint8_t lead) {
  static constexpr size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

void Utf8Stream::Append(absl::string_view bytes, std::string* out) {
  pending_.append(bytes.data(), bytes.size());
  const auto* p = reinterpret_cast<const uint8_t*>(pending_.data());
  const size_t n = pending_.size();
  size_t i = 0;
  while (i < n) {
    size_t len = 1;
    const SeqState state = Examine(p + i, n - i, &len);
    if (state == SeqState::kIncomplete) break;
    if (state == SeqState::kValid) {
      out->append(pending_, i, len);
    } else {
      AppendUtf8(kReplacementChar, out);
    }
    i += len;
  }
  pending_.erase(0, i);
}

void Utf8Stream::Finish(std::string* out) {
  // What is left is a valid but incomplete prefix: one maximal subpart.
  if (!pending_.empty()) AppendUtf8(kReplacementChar, out);
  pending_.clear();
}

std::string SanitizeUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  Utf8Stream stream;
  stream.Append(bytes, &out);
  stream.Finish(&out);
  return out;
}

}  // namespace gqa
