#include "tools/gqa_loadgen/quality.h"

#include <algorithm>

namespace gqa::loadgen {

TokenAgreement CompareTokens(absl::Span<const int32_t> reference, absl::Span<const int32_t> test) {
  TokenAgreement a;
  a.num_positions = static_cast<int64_t>(std::max(reference.size(), test.size()));
  const size_t common = std::min(reference.size(), test.size());
  for (size_t i = 0; i < common; ++i) {
    if (reference[i] == test[i]) {
      ++a.num_matching;
    } else if (a.first_divergence < 0) {
      a.first_divergence = static_cast<int64_t>(i);
    }
  }
  if (a.first_divergence < 0 && reference.size() != test.size()) {
    a.first_divergence = static_cast<int64_t>(common);
  }
  if (a.num_positions > 0) {
    a.fraction = static_cast<double>(a.num_matching) / static_cast<double>(a.num_positions);
  }
  return a;
}

QualityResult SummarizeQuality(absl::Span<const QualityPair> pairs) {
  QualityResult q;
  std::vector<double> agreement, divergence, ref_kv, test_kv;
  for (const QualityPair& pair : pairs) {
    ++q.num_prompts;
    if (!pair.reference.ok() || !pair.test.ok()) {
      ++q.num_errors;
      continue;
    }
    const TokenAgreement a =
        CompareTokens(pair.reference.output_token_ids, pair.test.output_token_ids);
    agreement.push_back(a.fraction);
    if (a.first_divergence < 0) {
      ++q.num_identical;
    } else {
      divergence.push_back(static_cast<double>(a.first_divergence));
    }
    ref_kv.push_back(static_cast<double>(pair.reference.peak_kv_bytes));
    test_kv.push_back(static_cast<double>(pair.test.peak_kv_bytes));
  }
  q.agreement = Summarize(std::move(agreement));
  q.first_divergence = Summarize(std::move(divergence));
  q.reference_peak_kv_bytes = Summarize(std::move(ref_kv));
  q.test_peak_kv_bytes = Summarize(std::move(test_kv));
  return q;
}

}  // namespace gqa::loadgen
