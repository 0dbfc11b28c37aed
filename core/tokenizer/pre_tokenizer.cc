#include "core/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/tokenizer/unicode_props.h"
#include "core/tokenizer/utf8.h"

namespace gqa {
namespace {

// NOTE: the matchers below follow llama.cpp's unicode_regex_split_custom_*
// branch for branch (unicode.cpp), which is what its tokenizer runs for
// these regexes, so ties and corner cases (a lone trailing space, "\s+(?!\S)"
// at a segment's end) split the same way.

constexpr char32_t kOutOfRange = 0xFFFFFFFF;
constexpr uint16_t kWs = kCharWhitespace;
constexpr uint16_t kL = kCharLetter;
constexpr uint16_t kN = kCharNumber;

// A half-open range of character indices.
using Segment = std::pair<size_t, size_t>;

struct Chars {
  std::vector<Utf8Char> chars;
  std::vector<uint16_t> flags;
};

// Character access clipped to one segment, like llama.cpp's _get_cpt and
// _get_flags: outside [begin, end) a code point is kOutOfRange, flags are 0.
class SegmentCursor {
 public:
  SegmentCursor(const Chars& c, Segment s, std::vector<Segment>* out)
      : c_(c), end_(s.second), prev_(s.first), out_(out) {}
  char32_t cp(size_t pos) const { return pos < end_ ? c_.chars[pos].cp : kOutOfRange; }
  uint16_t flags(size_t pos) const { return pos < end_ ? c_.flags[pos] : 0; }
  size_t end() const { return end_; }
  // Emits [prev, end) as a word when non-empty.
  void Add(size_t end) {
    if (end > prev_) out_->emplace_back(prev_, end);
    prev_ = end;
  }

 private:
  const Chars& c_;
  size_t end_;
  size_t prev_;
  std::vector<Segment>* out_;
};

bool IsContractionLetter(char32_t c) { return c == 's' || c == 't' || c == 'm' || c == 'd'; }
bool IsContractionPair(char32_t a, char32_t b) {
  return (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l');
}
char32_t AsciiLower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
bool IsCrLf(char32_t c) { return c == '\r' || c == '\n'; }

// Matches 's|'t|'re|'ve|'m|'ll|'d at `pos` (case-insensitively if asked);
// returns its length or 0.
size_t MatchContraction(const SegmentCursor& s, size_t pos, bool ignore_case) {
  if (s.cp(pos) != '\'' || pos + 1 >= s.end()) return 0;
  auto lower = [&](char32_t c) { return ignore_case ? AsciiLower(c) : c; };
  const char32_t n1 = lower(s.cp(pos + 1));
  if (IsContractionLetter(n1)) return 2;
  if (pos + 2 < s.end() && IsContractionPair(n1, lower(s.cp(pos + 2)))) return 3;
  return 0;
}

// Whitespace handling shared by both regex families: \s+(?!\S) then \s+.
// Returns the new position.
size_t MatchTrailingWhitespace(SegmentCursor& s, size_t pos, size_t num_ws) {
  if (num_ws > 1 && s.cp(pos + num_ws) != kOutOfRange) {
    pos += num_ws - 1;
  } else if (num_ws > 0) {
    pos += num_ws;
  } else {
    ++pos;  // no alternative matched: the character stands alone
  }
  s.Add(pos);
  return pos;
}

void SplitGpt2(const Chars& c, Segment seg, std::vector<Segment>* out) {
  SegmentCursor s(c, seg, out);
  size_t pos = seg.first;
  while (pos < seg.second) {
    const char32_t cp = s.cp(pos);
    if (const size_t n = MatchContraction(s, pos, /*ignore_case=*/false); n > 0) {
      pos += n;
      s.Add(pos);
      continue;
    }
    const uint16_t f2 = cp == ' ' ? s.flags(pos + 1) : s.flags(pos);
    const uint16_t cls = (f2 & kL) ? kL : (f2 & kN) ? kN : 0;
    if (cls != 0) {  // " ?\p{L}+" or " ?\p{N}+"
      pos += (cp == ' ');
      while (s.flags(pos) & cls) ++pos;
      s.Add(pos);
      continue;
    }
    if (!(f2 & (kWs | kL | kN)) && f2 != 0) {  // " ?[^\s\p{L}\p{N}]+"
      pos += (cp == ' ');
      while (!(s.flags(pos) & (kWs | kL | kN)) && s.flags(pos) != 0) ++pos;
      s.Add(pos);
      continue;
    }
    size_t num_ws = 0;
    while (s.flags(pos + num_ws) & kWs) ++num_ws;
    pos = MatchTrailingWhitespace(s, pos, num_ws);
  }
}

void SplitLlama3(const Chars& c, Segment seg, size_t max_digits, std::vector<Segment>* out) {
  SegmentCursor s(c, seg, out);
  size_t pos = seg.first;
  while (pos < seg.second) {
    const char32_t cp = s.cp(pos);
    const uint16_t f = s.flags(pos);
    if (const size_t n = MatchContraction(s, pos, /*ignore_case=*/true); n > 0) {
      pos += n;
      s.Add(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!IsCrLf(cp) && !(f & kN) && ((f & kL) || (s.flags(pos + 1) & kL))) {
      ++pos;
      while (s.flags(pos) & kL) ++pos;
      s.Add(pos);
      continue;
    }
    if (f & kN) {  // \p{N}{1,max_digits}
      size_t start = pos;
      while (s.flags(pos) & kN) {
        if (++pos - start >= max_digits) {
          s.Add(pos);
          start = pos;
        }
      }
      s.Add(pos);
      continue;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const uint16_t f2 = cp == ' ' ? s.flags(pos + 1) : f;
    if (!(f2 & (kWs | kL | kN)) && f != 0) {
      pos += (cp == ' ');
      while (!(s.flags(pos) & (kWs | kL | kN)) && s.flags(pos) != 0) ++pos;
      while (IsCrLf(s.cp(pos))) ++pos;
      s.Add(pos);
      continue;
    }
    size_t num_ws = 0;
    size_t last_crlf_end = 0;
    while (s.flags(pos + num_ws) & kWs) {
      if (IsCrLf(s.cp(pos + num_ws))) last_crlf_end = pos + num_ws + 1;
      ++num_ws;
    }
    if (last_crlf_end > 0) {  // \s*[\r\n]+
      pos = last_crlf_end;
      s.Add(pos);
      continue;
    }
    pos = MatchTrailingWhitespace(s, pos, num_ws);
  }
}

// Isolates runs of characters matching `pred`, cut into chunks of at most
// `max_run` (0: unlimited). With `full_chunks_only`, a shorter remainder is
// not a match and stays with the surrounding text, as for [0-9][0-9][0-9].
template <typename Pred>
void Isolate(const Chars& c, Segment seg, Pred pred, size_t max_run, bool full_chunks_only,
             std::vector<Segment>* out) {
  size_t gap_start = seg.first;
  size_t pos = seg.first;
  auto flush_gap = [&](size_t end) {
    if (end > gap_start) out->emplace_back(gap_start, end);
  };
  while (pos < seg.second) {
    if (!pred(c, pos)) {
      ++pos;
      continue;
    }
    size_t run_end = pos;
    while (run_end < seg.second && pred(c, run_end)) ++run_end;
    while (pos < run_end) {
      const size_t len = max_run == 0 ? run_end - pos : std::min(max_run, run_end - pos);
      if (full_chunks_only && len < max_run) break;
      flush_gap(pos);
      out->emplace_back(pos, pos + len);
      pos += len;
      gap_start = pos;
    }
    pos = run_end;
  }
  flush_gap(seg.second);
}

bool IsNumber(const Chars& c, size_t i) { return c.flags[i] & kN; }
bool IsAsciiDigit(const Chars& c, size_t i) { return c.chars[i].cp >= '0' && c.chars[i].cp <= '9'; }
bool IsDefaultPunct(const Chars& c, size_t i) {
  const char32_t cp = c.chars[i].cp;
  return (c.flags[i] & kCharPunctuation) || cp == '$' || cp == '+' || cp == '<' || cp == '=' ||
         cp == '>' || cp == '^' || cp == '~' || cp == '|';
}

// Applies `split` to every segment.
template <typename Split>
std::vector<Segment> Pass(const std::vector<Segment>& in, Split split) {
  std::vector<Segment> out;
  out.reserve(in.size() * 2);
  for (const Segment& seg : in) split(seg, &out);
  return out;
}

}  // namespace

absl::StatusOr<PreTokenizerKind> PreTokenizerKindFromName(absl::string_view name) {
  for (absl::string_view n : {"gpt2", "gpt-2", "phi-2", "mpt", "olmo", "jais"}) {
    if (name == n) return PreTokenizerKind::kGpt2;
  }
  for (absl::string_view n : {"smollm", "starcoder", "refact", "command-r", "codeshell"}) {
    if (name == n) return PreTokenizerKind::kSmollm;
  }
  for (absl::string_view n : {"llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe", "falcon3"}) {
    if (name == n) return PreTokenizerKind::kLlama3;
  }
  if (name == "qwen2" || name == "stablelm2") return PreTokenizerKind::kQwen2;
  if (name.empty() || name == "default") return PreTokenizerKind::kDefault;
  return absl::UnimplementedError(absl::StrCat(
      "pre-tokenizer '", name,
      "' is not supported (supported: gpt2, smollm, starcoder, llama-bpe, qwen2, default)"));
}

absl::string_view PreTokenizerKindName(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      return "gpt2";
    case PreTokenizerKind::kSmollm:
      return "smollm";
    case PreTokenizerKind::kLlama3:
      return "llama-bpe";
    case PreTokenizerKind::kQwen2:
      return "qwen2";
    case PreTokenizerKind::kDefault:
      return "default";
  }
  return "unknown";
}

std::vector<absl::string_view> PreTokenize(PreTokenizerKind kind, absl::string_view text) {
  Chars c;
  c.chars = DecodeUtf8(text);
  c.flags.reserve(c.chars.size());
  for (const Utf8Char& ch : c.chars) c.flags.push_back(ClassifyCodepoint(ch.cp));

  std::vector<Segment> segs;
  if (!c.chars.empty()) segs.emplace_back(0, c.chars.size());
  auto gpt2 = [&](Segment s, std::vector<Segment>* o) { SplitGpt2(c, s, o); };
  auto isolate = [&](auto pred, size_t max_run, bool full_only) {
    return [&c, pred, max_run, full_only](Segment s, std::vector<Segment>* o) {
      Isolate(c, s, pred, max_run, full_only, o);
    };
  };
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      segs = Pass(segs, gpt2);
      break;
    case PreTokenizerKind::kSmollm:
      segs = Pass(segs, isolate(IsNumber, 1, false));
      segs = Pass(segs, gpt2);
      break;
    case PreTokenizerKind::kLlama3:
    case PreTokenizerKind::kQwen2: {
      const size_t max_digits = kind == PreTokenizerKind::kLlama3 ? 3 : 1;
      segs =
          Pass(segs, [&](Segment s, std::vector<Segment>* o) { SplitLlama3(c, s, max_digits, o); });
      break;
    }
    case PreTokenizerKind::kDefault:
      segs = Pass(segs, isolate(IsDefaultPunct, 0, false));
      segs = Pass(segs, gpt2);
      segs = Pass(segs, isolate(IsNumber, 0, false));
      segs = Pass(segs, isolate(IsAsciiDigit, 3, true));
      break;
  }

  std::vector<absl::string_view> words;
  words.reserve(segs.size());
  for (const Segment& s : segs) {
    const uint32_t begin = c.chars[s.first].offset;
    const Utf8Char& last = c.chars[s.second - 1];
    words.push_back(text.substr(begin, last.offset + last.length - begin));
  }
  return words;
}

}  // namespace gqa
