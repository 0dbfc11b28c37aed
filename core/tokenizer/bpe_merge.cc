#include "core/tokenizer/bpe_merge.h"

#include <algorithm>
#include <queue>

#include "core/tokenizer/utf8.h"

namespace gqa {
namespace {

// A symbol in the doubly linked list of one word. A merged-away symbol keeps
// its slot with `alive` false.
struct Symbol {
  int32_t prev;
  int32_t next;  // -1 at the end
  bool alive;
};

// A candidate merge of symbols[left] and symbols[right] (right == left's next
// when it was queued). `priority`: lower pops first.
struct Candidate {
  double priority;
  int32_t left;
  int32_t right;
  // Validation data: the ids (rank merges) or the byte length (score merges)
  // the pair had when queued; a stale candidate no longer matches.
  int32_t left_id;
  int32_t right_id;
  int32_t result_id;
  size_t size_bytes;
};

struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.left > b.left;  // leftmost first on ties
  }
};

using CandidateQueue = std::priority_queue<Candidate, std::vector<Candidate>, CandidateAfter>;

std::vector<Symbol> LinkSymbols(size_t n) {
  std::vector<Symbol> symbols(n);
  for (size_t i = 0; i < n; ++i) {
    symbols[i].prev = static_cast<int32_t>(i) - 1;
    symbols[i].next = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    symbols[i].alive = true;
  }
  return symbols;
}

// Unlinks symbols[right], which was merged into symbols[left].
void Unlink(std::vector<Symbol>& symbols, int32_t left, int32_t right) {
  symbols[right].alive = false;
  symbols[left].next = symbols[right].next;
  if (symbols[right].next >= 0) symbols[symbols[right].next].prev = left;
}

}  // namespace

void MergeByRank(const MergeTable& table, std::vector<int32_t>* symbols_ptr) {
  std::vector<int32_t>& ids = *symbols_ptr;
  if (ids.size() < 2) return;
  std::vector<Symbol> symbols = LinkSymbols(ids.size());
  CandidateQueue queue;
  auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || ids[left] < 0 || ids[right] < 0) return;
    const auto it = table.find(MergePairKey(ids[left], ids[right]));
    if (it == table.end()) return;
    queue.push({static_cast<double>(it->second.rank), left, right, ids[left], ids[right],
                it->second.result_id, 0});
  };
  for (size_t i = 1; i < ids.size(); ++i)
    push(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    const Symbol& l = symbols[c.left];
    if (!l.alive || !symbols[c.right].alive || l.next != c.right || ids[c.left] != c.left_id ||
        ids[c.right] != c.right_id) {
      continue;  // stale: one side has merged with something else since
    }
    ids[c.left] = c.result_id;
    Unlink(symbols, c.left, c.right);
    push(symbols[c.left].prev, c.left);
    push(c.left, symbols[c.left].next);
  }

  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids[out++] = ids[i];
  ids.resize(out);
}

std::vector<absl::string_view> MergeByScore(absl::string_view text, const TokenLookup& lookup,
                                            absl::Span<const float> scores) {
  // Symbol i covers text[start[i], start[i] + len[i]).
  std::vector<size_t> start;
  std::vector<size_t> len;
  for (size_t offset = 0; offset < text.size();) {
    const size_t n =
        std::min(Utf8SequenceLength(static_cast<uint8_t>(text[offset])), text.size() - offset);
    start.push_back(offset);
    len.push_back(n);
    offset += n;
  }
  std::vector<absl::string_view> pieces;
  if (start.empty()) return pieces;
  std::vector<Symbol> symbols = LinkSymbols(start.size());
  CandidateQueue queue;
  auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const size_t size = len[left] + len[right];
    const auto it = lookup.find(text.substr(start[left], size));
    if (it == lookup.end()) return;
    // Highest score first: negate for the min-first queue.
    queue.push({-static_cast<double>(scores[it->second]), left, right, 0, 0, it->second, size});
  };
  for (size_t i = 1; i < start.size(); ++i)
    push(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    if (!symbols[c.left].alive || !symbols[c.right].alive || symbols[c.left].next != c.right ||
        len[c.left] + len[c.right] != c.size_bytes) {
      continue;
    }
    len[c.left] += len[c.right];
    Unlink(symbols, c.left, c.right);
    push(symbols[c.left].prev, c.left);
    push(c.left, symbols[c.left].next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) pieces.push_back(text.substr(start[i], len[i]));
  return pieces;
}

}  // namespace gqa
