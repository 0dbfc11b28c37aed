// The two BPE merge loops behind Tokenizer, over one word at a time:
// rank-ordered merges of token-id pairs (byte-level BPE, GPT-2 style) and
// score-ordered merges of adjacent substrings (SentencePiece BPE). Both keep
// the symbols in a linked list and candidate pairs in a priority queue, so a
// word of n symbols costs O(n log n), as in llama.cpp's llm_tokenizer_*_session.
// Stateless functions over immutable tables; thread-safe.
#ifndef GQA_CORE_TOKENIZER_BPE_MERGE_H_
#define GQA_CORE_TOKENIZER_BPE_MERGE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gqa {

// Token text -> id. Views into the owning tokenizer's token strings.
using TokenLookup = absl::flat_hash_map<absl::string_view, int32_t>;

struct MergeRule {
  int32_t rank = 0;       // position in the merges list; lower merges first
  int32_t result_id = 0;  // token id of left + right
};

// (left_id, right_id) -> rule. Key: MergePairKey(left_id, right_id).
using MergeTable = absl::flat_hash_map<uint64_t, MergeRule>;

inline uint64_t MergePairKey(int32_t left_id, int32_t right_id) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left_id)) << 32) |
         static_cast<uint32_t>(right_id);
}

// Merges `symbols` (token ids; -1 for a symbol that never merges) in place:
// repeatedly the adjacent pair with the lowest rank, leftmost first on ties.
void MergeByRank(const MergeTable& table, std::vector<int32_t>* symbols);

// Splits `text` into UTF-8 characters (llama.cpp's lead-byte lengths) and
// repeatedly merges the adjacent pair whose concatenation is a token with the
// highest score, leftmost first on ties. Returns the final pieces as views
// into `text`; a piece is either a token or a single character that is not.
// REQUIRES: every id in `lookup` indexes `scores`.
std::vector<absl::string_view> MergeByScore(absl::string_view text, const TokenLookup& lookup,
                                            absl::Span<const float> scores);

}  // namespace gqa

#endif  // GQA_CORE_TOKENIZER_BPE_MERGE_H_
