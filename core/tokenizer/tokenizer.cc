#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "core/hash.h"
#include "core/status.h"
#include "core/tokenizer/unicode_props.h"
#include "core/tokenizer/utf8.h"

namespace gqa {
namespace {

constexpr absl::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

// Parses SentencePiece's byte token text "<0xAB>"; -1 if it is not one.
int ParseByteToken(absl::string_view text) {
  if (text.size() != 6 || !absl::StartsWith(text, "<0x") || text[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]);
  const int lo = hex(text[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

// GPT-2 stand-in characters back to bytes; anything else stays as UTF-8.
std::string DecodeByteLevelText(absl::string_view text) {
  std::string out;
  for (const Utf8Char& c : DecodeUtf8(text)) {
    const int byte = Gpt2CharToByte(c.cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.data() + c.offset, c.length);
    }
  }
  return out;
}

absl::Status CheckSpecialId(absl::string_view name, int32_t id, size_t vocab_size) {
  if (id >= -1 && id < static_cast<int64_t>(vocab_size)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, "=", id, " out of range [0, ", vocab_size,
                                                 ") (-1 means none); fix the tokenizer metadata"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(TokenizerSpec spec) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(spec)));
  RETURN_IF_ERROR(tokenizer->Init());
  return tokenizer;
}

absl::Status Tokenizer::Init() {
  const size_t n = spec_.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("tokenizer vocab is empty");
  if (n > (1u << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("vocab of ", n, " tokens is too large"));
  }
  if (!spec_.scores.empty() && spec_.scores.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", spec_.scores.size(), " scores for ", n, " tokens"));
  }
  if (!spec_.token_types.empty() && spec_.token_types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer has ", spec_.token_types.size(),
                                                   " token types for ", n, " tokens"));
  }
  RETURN_IF_ERROR(CheckSpecialId("bos_id", spec_.bos_id, n));
  RETURN_IF_ERROR(CheckSpecialId("eos_id", spec_.eos_id, n));
  RETURN_IF_ERROR(CheckSpecialId("unk_id", spec_.unk_id, n));
  RETURN_IF_ERROR(CheckSpecialId("pad_id", spec_.pad_id, n));
  if (spec_.add_bos && spec_.bos_id < 0) {
    return absl::InvalidArgumentError(
        "add_bos is set but there is no bos_id; set one or clear add_bos");
  }
  if (spec_.add_eos && spec_.eos_id < 0) {
    return absl::InvalidArgumentError(
        "add_eos is set but there is no eos_id; set one or clear add_eos");
  }
  const bool byte_level = spec_.kind == TokenizerSpec::Kind::kByteLevelBpe;
  if (byte_level) {
    ASSIGN_OR_RETURN(pre_tokenizer_, PreTokenizerKindFromName(spec_.pre_tokenizer));
    ignore_merges_ = pre_tokenizer_ == PreTokenizerKind::kLlama3;
  }
  InitLookups();
  RETURN_IF_ERROR(InitMerges());
  InitPieces();
  return absl::OkStatus();
}

void Tokenizer::InitLookups() {
  const size_t n = spec_.tokens.size();
  lookup_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // NOTE: the first id wins for a duplicated text; empty texts never match.
    if (!spec_.tokens[i].empty()) lookup_.try_emplace(spec_.tokens[i], static_cast<int32_t>(i));
  }
  for (size_t i = 0; i < n; ++i) {
    const int32_t type = TypeOf(static_cast<int32_t>(i));
    const bool whole = type == kTokenControl || type == kTokenUserDefined || type == kTokenUnknown;
    if (whole && !spec_.tokens[i].empty()) special_ids_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [&](int32_t a, int32_t b) {
    return spec_.tokens[a].size() > spec_.tokens[b].size();
  });
  for (int b = 0; b < 256; ++b) {
    int32_t id = -1;
    if (spec_.kind == TokenizerSpec::Kind::kByteLevelBpe) {
      id = FindToken(ByteToGpt2Char(static_cast<uint8_t>(b)));
    } else {
      id = FindToken(absl::StrFormat("<0x%02X>", b));
      if (id < 0) id = FindToken(std::string(1, static_cast<char>(b)));
    }
    byte_ids_[b] = id;
  }
}

absl::Status Tokenizer::InitMerges() {
  const bool byte_level = spec_.kind == TokenizerSpec::Kind::kByteLevelBpe;
  const bool derive_scores = !byte_level && spec_.scores.empty();
  if (derive_scores) {
    // NOTE: a SentencePiece vocab without scores (from tokenizer.json) ranks
    // a token by the merge that creates it: earlier merges score higher;
    // tokens no merge creates score lowest.
    spec_.scores.assign(spec_.tokens.size(), -static_cast<float>(spec_.merges.size() + 1));
  }
  if (!byte_level && !derive_scores) return absl::OkStatus();
  merges_.reserve(spec_.merges.size());
  for (size_t rank = 0; rank < spec_.merges.size(); ++rank) {
    const std::string& merge = spec_.merges[rank];
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("merge #", rank, " '", merge.substr(0, 64),
                       "' is not 'left right'; fix the tokenizer merges"));
    }
    const absl::string_view text = merge;
    const int32_t left = FindToken(text.substr(0, space));
    const int32_t right = FindToken(text.substr(space + 1));
    const int32_t result = FindToken(absl::StrCat(text.substr(0, space), text.substr(space + 1)));
    if (left < 0 || right < 0 || result < 0) continue;  // refers to tokens the vocab lacks
    merges_.try_emplace(MergePairKey(left, right), MergeRule{static_cast<int32_t>(rank), result});
    if (derive_scores) {
      spec_.scores[result] = std::max(spec_.scores[result], -static_cast<float>(rank));
    }
  }
  if (derive_scores) merges_.clear();  // SentencePiece merges by score only
  return absl::OkStatus();
}

void Tokenizer::InitPieces() {
  const bool byte_level = spec_.kind == TokenizerSpec::Kind::kByteLevelBpe;
  pieces_.resize(spec_.tokens.size());
  for (size_t i = 0; i < spec_.tokens.size(); ++i) {
    const std::string& text = spec_.tokens[i];
    const int32_t type = TypeOf(static_cast<int32_t>(i));
    if (type == kTokenControl || type == kTokenUserDefined || type == kTokenUnknown) {
      pieces_[i] = text;
    } else if (type == kTokenByte && ParseByteToken(text) >= 0) {
      pieces_[i] = std::string(1, static_cast<char>(ParseByteToken(text)));
    } else if (byte_level) {
      pieces_[i] = DecodeByteLevelText(text);
    } else {
      pieces_[i] = absl::StrReplaceAll(text, {{kSpmSpace, " "}});
    }
  }
}

int32_t Tokenizer::TypeOf(int32_t id) const {
  return spec_.token_types.empty() ? kTokenNormal : spec_.token_types[id];
}

int32_t Tokenizer::FindToken(absl::string_view text) const {
  const auto it = lookup_.find(text);
  return it == lookup_.end() ? -1 : it->second;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const int32_t type = TypeOf(id);
  return type == kTokenControl || type == kTokenUserDefined || type == kTokenUnknown;
}

absl::Status Tokenizer::CheckId(int32_t id) const {
  if (id >= 0 && id < vocab_size()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("token id ", id, " out of range [0, ", vocab_size(), ") for this vocab"));
}

// Splits out special tokens, longest text first and leftmost occurrences
// within each remaining raw fragment, as llama.cpp's tokenizer_st_partition.
std::vector<Tokenizer::Fragment> Tokenizer::SplitSpecial(absl::string_view text,
                                                         bool parse_special) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({-1, text});
  std::vector<Fragment> next;
  for (const int32_t id : special_ids_) {
    const int32_t type = TypeOf(id);
    if (!parse_special && type != kTokenUserDefined) continue;
    const absl::string_view special = spec_.tokens[id];
    if (text.find(special) == absl::string_view::npos) continue;  // cheap common case
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token_id >= 0) {
        next.push_back(f);
        continue;
      }
      absl::string_view rest = f.text;
      for (size_t pos; (pos = rest.find(special)) != absl::string_view::npos;) {
        if (pos > 0) next.push_back({-1, rest.substr(0, pos)});
        next.push_back({id, special});
        rest.remove_prefix(pos + special.size());
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    fragments.swap(next);
  }
  return fragments;
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_special && spec_.add_bos) ids.push_back(spec_.bos_id);
  bool after_special = true;  // SentencePiece: start of text counts as after a special
  for (const Fragment& f : SplitSpecial(text, options.parse_special)) {
    if (f.token_id >= 0) {
      ids.push_back(f.token_id);
      after_special = true;
    } else if (spec_.kind == TokenizerSpec::Kind::kByteLevelBpe) {
      EncodeByteLevel(f.text, &ids);
    } else {
      std::string raw;
      if (spec_.add_space_prefix && after_special) raw = " ";
      raw.append(f.text.data(), f.text.size());
      EncodeSentencePiece(absl::StrReplaceAll(raw, {{" ", kSpmSpace}}), &ids);
      after_special = false;
    }
  }
  if (options.add_special && spec_.add_eos) ids.push_back(spec_.eos_id);
  return ids;
}

void Tokenizer::EncodeByteLevel(absl::string_view text, std::vector<int32_t>* out) const {
  std::vector<int32_t> symbols;
  for (const absl::string_view word : PreTokenize(pre_tokenizer_, text)) {
    if (ignore_merges_) {
      std::string mapped;
      for (const char c : word) mapped += ByteToGpt2Char(static_cast<uint8_t>(c));
      if (const int32_t id = FindToken(mapped); id >= 0) {
        out->push_back(id);
        continue;
      }
    }
    symbols.clear();
    for (const char c : word) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    MergeByRank(merges_, &symbols);
    for (const int32_t id : symbols) {
      if (id >= 0) {
        out->push_back(id);
      } else if (spec_.unk_id >= 0) {
        out->push_back(spec_.unk_id);  // a byte this vocab cannot spell
      }
    }
  }
}

void Tokenizer::EncodeSentencePiece(absl::string_view text, std::vector<int32_t>* out) const {
  for (const absl::string_view piece : MergeByScore(text, lookup_, spec_.scores)) {
    if (const int32_t id = FindToken(piece); id >= 0) {
      out->push_back(id);
    } else {
      AppendByteTokens(piece, out);  // byte fallback
    }
  }
}

void Tokenizer::AppendByteTokens(absl::string_view bytes, std::vector<int32_t>* out) const {
  for (const char c : bytes) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out->push_back(id);
    } else if (spec_.unk_id >= 0) {
      out->push_back(spec_.unk_id);
    }
  }
}

absl::Status Tokenizer::DecodeAppend(int32_t id, const DecodeOptions& options, DecodeState* state,
                                     std::string* out) const {
  RETURN_IF_ERROR(CheckId(id));
  const int32_t type = TypeOf(id);
  if (IsSpecial(id)) {
    state->at_text_start = true;
    if (!options.skip_special || type == kTokenUserDefined) out->append(pieces_[id]);
    return absl::OkStatus();
  }
  absl::string_view piece = pieces_[id];
  if (state->at_text_start && spec_.add_space_prefix &&
      spec_.kind == TokenizerSpec::Kind::kSentencePieceBpe && absl::StartsWith(piece, " ")) {
    piece.remove_prefix(1);
  }
  state->at_text_start = false;
  out->append(piece.data(), piece.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              const DecodeOptions& options) const {
  std::string text;
  DecodeState state;
  for (const int32_t id : ids) RETURN_IF_ERROR(DecodeAppend(id, options, &state, &text));
  return text;
}

absl::StatusOr<absl::string_view> Tokenizer::TokenPiece(int32_t id) const {
  RETURN_IF_ERROR(CheckId(id));
  return absl::string_view(pieces_[id]);
}

absl::StatusOr<absl::string_view> Tokenizer::TokenText(int32_t id) const {
  RETURN_IF_ERROR(CheckId(id));
  return absl::string_view(spec_.tokens[id]);
}

std::string Tokenizer::Fingerprint() const {
  Sha256Hasher hasher;
  const auto update_string = [&hasher](absl::string_view text) {
    hasher.UpdateU64(text.size());
    hasher.Update(text);
  };
  update_string("gqaserve.tokenizer.v1");
  hasher.UpdateU64(static_cast<uint64_t>(spec_.kind));
  hasher.UpdateU64(spec_.tokens.size());
  for (const std::string& token : spec_.tokens) update_string(token);
  hasher.UpdateU64(spec_.scores.size());
  for (float score : spec_.scores) {
    uint32_t bits = 0;
    static_assert(sizeof(bits) == sizeof(score));
    std::memcpy(&bits, &score, sizeof(bits));
    hasher.UpdateU64(bits);
  }
  hasher.UpdateU64(spec_.token_types.size());
  for (int32_t type : spec_.token_types) hasher.UpdateU64(static_cast<uint32_t>(type));
  hasher.UpdateU64(spec_.merges.size());
  for (const std::string& merge : spec_.merges) update_string(merge);
  update_string(spec_.pre_tokenizer);
  for (int32_t id : {spec_.bos_id, spec_.eos_id, spec_.unk_id, spec_.pad_id}) {
    hasher.UpdateU64(static_cast<uint64_t>(static_cast<int64_t>(id)));
  }
  hasher.UpdateU64((spec_.add_bos ? 1 : 0) | (spec_.add_eos ? 2 : 0) |
                   (spec_.add_space_prefix ? 4 : 0));
  update_string(spec_.chat_template);
  return DigestToHex(hasher.Finish());
}

}  // namespace gqa
