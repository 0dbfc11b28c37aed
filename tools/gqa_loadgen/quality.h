// Quality next to speed (--quality): each prompt is generated greedily twice,
// once under the full cache (the reference) and once under the KV policy and
// dtype being tested; this file compares the two outputs token by token and
// summarizes the agreement over all prompts, next to the peak KV bytes each
// side used. Pure functions; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_QUALITY_H_
#define GQA_TOOLS_GQA_LOADGEN_QUALITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/stats.h"

namespace gqa::loadgen {

struct TokenAgreement {
  // Positions compared: the longer output's length.
  int64_t num_positions = 0;
  // Positions where both outputs have the same token.
  int64_t num_matching = 0;
  // The first position where they differ (one ending early counts); -1 when
  // the outputs are identical.
  int64_t first_divergence = -1;
  // num_matching / num_positions; 1 for two empty outputs.
  double fraction = 1.0;
};

TokenAgreement CompareTokens(absl::Span<const int32_t> reference, absl::Span<const int32_t> test);

struct QualityPair {
  RequestRecord reference;  // full cache, greedy
  RequestRecord test;       // the tested policy and dtype, greedy
};

struct QualityResult {
  std::string kv_policy;  // the tested policy and dtype, as flags spell them
  std::string kv_dtype;
  std::string reference_kv_dtype;
  int64_t num_prompts = 0;
  int64_t num_errors = 0;  // pairs where either request failed; not compared
  int64_t num_identical = 0;
  Distribution agreement;         // per compared prompt, a fraction in [0, 1]
  Distribution first_divergence;  // per diverging prompt, a token position
  Distribution reference_peak_kv_bytes;
  Distribution test_peak_kv_bytes;
};

QualityResult SummarizeQuality(absl::Span<const QualityPair> pairs);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_QUALITY_H_
