#include "core/tokenizer/unicode_props.h"

#include <array>

#include "core/tokenizer/utf8.h"
#include "unicode/uchar.h"

namespace gqa {
namespace {

uint16_t CategoryClass(int8_t category) {
  switch (category) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return kCharLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return kCharNumber;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
      return kCharMark;
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      return kCharPunctuation;
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
      return kCharSymbol;
    case U_SPACE_SEPARATOR:
    case U_LINE_SEPARATOR:
    case U_PARAGRAPH_SEPARATOR:
      return kCharSeparator;
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return kCharControl;
    default:
      return kCharUndefined;
  }
}

// Flags for the ASCII range, computed once (the common case).
struct AsciiTable {
  std::array<uint16_t, 128> flags;
  AsciiTable() {
    for (int c = 0; c < 128; ++c) {
      uint16_t f = CategoryClass(u_charType(c));
      if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) f |= kCharWhitespace;
      flags[c] = f;
    }
  }
};

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100 + n in byte order.
struct Gpt2Tables {
  std::array<std::string, 256> byte_to_char;
  std::array<int16_t, 512> char_to_byte;  // code points < 0x200 cover all stand-ins
  Gpt2Tables() {
    char_to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : 0x100 + n++;
      AppendUtf8(cp, &byte_to_char[b]);
      char_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Gpt2Tables& Gpt2() {
  static const Gpt2Tables* tables = new Gpt2Tables();
  return *tables;
}

}  // namespace

uint16_t ClassifyCodepoint(char32_t cp) {
  static const AsciiTable* ascii = new AsciiTable();
  if (cp < 128) return ascii->flags[cp];
  if (cp > 0x10FFFF) return kCharUndefined;
  const auto c = static_cast<UChar32>(cp);
  uint16_t f = CategoryClass(u_charType(c));
  if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) f |= kCharWhitespace;
  return f;
}

const std::string& ByteToGpt2Char(uint8_t byte) { return Gpt2().byte_to_char[byte]; }

int Gpt2CharToByte(char32_t cp) {
  if (cp >= 512) return -1;
  return Gpt2().char_to_byte[cp];
}

}  // namespace gqa
