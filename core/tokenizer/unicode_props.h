// Unicode character classes the pre-tokenizer regexes need (\p{L}, \p{N},
// \p{P}, \s, ...), answered by ICU, and GPT-2's byte <-> printable-character
// mapping used by byte-level BPE vocabularies. Used by pre_tokenizer.cc and
// tokenizer.cc. Stateless; thread-safe.
#ifndef GQA_CORE_TOKENIZER_UNICODE_PROPS_H_
#define GQA_CORE_TOKENIZER_UNICODE_PROPS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace gqa {

// Bit set describing one code point, mirroring llama.cpp's unicode_cpt_flags:
// exactly one general-category bit (kUndefined for unassigned code points)
// plus kWhitespace for Unicode White_Space.
enum CharClass : uint16_t {
  kCharUndefined = 1 << 0,    // Cn
  kCharNumber = 1 << 1,       // \p{N}: Nd Nl No
  kCharLetter = 1 << 2,       // \p{L}: Lu Ll Lt Lm Lo
  kCharSeparator = 1 << 3,    // \p{Z}
  kCharMark = 1 << 4,         // \p{M}
  kCharPunctuation = 1 << 5,  // \p{P}
  kCharSymbol = 1 << 6,       // \p{S}
  kCharControl = 1 << 7,      // \p{C} except Cn
  kCharWhitespace = 1 << 8,   // \s (Unicode White_Space)
};

uint16_t ClassifyCodepoint(char32_t cp);

// GPT-2's printable stand-in for a raw byte (e.g. 0x20 -> "Ġ" U+0120), as
// UTF-8.
const std::string& ByteToGpt2Char(uint8_t byte);
// The byte a GPT-2 stand-in code point represents, or -1 if it is none.
int Gpt2CharToByte(char32_t cp);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_UNICODE_PROPS_H_
