// The GGUF rejection catalogue: one small file per way a GGUF file can be
// broken (plus a few valid ones), with the status code and message phrase the
// reader must answer. gguf_corpus_test.cc checks them; gguf_make_corpus writes
// them to tests/testdata/gguf/ as the fuzzer's seed corpus. Test-only; pure.
// Categories are documented in docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGUF_CORPUS_CASES_H_
#define GQA_CORE_GGUF_GGUF_CORPUS_CASES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gqa {

// Which call answers `code`.
enum class GgufCaseStage {
  kParse,        // ParseGguf()
  kModelConfig,  // ParseGguf() succeeds, then ModelConfigFromGguf()
};

struct GgufCorpusCase {
  std::string name;   // file stem: tests/testdata/gguf/<name>.bin
  std::string bytes;  // the whole file, < 4 KiB
  GgufCaseStage stage;
  absl::StatusCode code;  // kOk: valid at `stage` (and every stage before it)
  std::string phrase;     // must occur in the error message (empty for kOk)
};

std::vector<GgufCorpusCase> GgufCorpusCases();

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGUF_CORPUS_CASES_H_
