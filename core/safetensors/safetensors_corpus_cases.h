// The safetensors rejection catalogue: one small input per way a safetensors
// file, a config.json or a model.safetensors.index.json can be broken (plus
// valid ones), with the status code and message phrase the reader must
// answer. safetensors_corpus_test.cc checks them; safetensors_make_corpus
// writes them to tests/testdata/safetensors/corpus/ as the fuzzer's seeds.
// Test-only; pure. Categories are documented in docs/formats/safetensors.md.
#ifndef GQA_CORE_SAFETENSORS_SAFETENSORS_CORPUS_CASES_H_
#define GQA_CORE_SAFETENSORS_SAFETENSORS_CORPUS_CASES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gqa {

// Which reader answers.
enum class SafetensorsCaseStage {
  kFile,    // ParseSafetensors()
  kConfig,  // ModelConfigFromHfJson()
  kIndex,   // ParseSafetensorsIndex()
};

struct SafetensorsCorpusCase {
  std::string name;   // file stem: tests/testdata/safetensors/corpus/<name>.bin
  std::string bytes;  // the whole input, < 4 KiB
  SafetensorsCaseStage stage;
  absl::StatusCode code;  // kOk: valid
  std::string phrase;     // must occur in the error message (empty for kOk)
};

std::vector<SafetensorsCorpusCase> SafetensorsCorpusCases();

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_SAFETENSORS_CORPUS_CASES_H_
