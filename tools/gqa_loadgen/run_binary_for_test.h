// Test helper for tools/gqa_loadgen/ tests: runs a built binary as a user
// would and returns its exit status and output, through the `gqa` tools'
// helper (tools/gqa/run_gqa_for_test.h). Header-only; tests only.
#ifndef GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_
#define GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_

#include <string>
#include <vector>

#include "tools/gqa/run_gqa_for_test.h"

namespace gqa::loadgen {

using BinaryRun = GqaRun;

inline std::string ReadFileForTesting(const std::string& path) { return SlurpForTesting(path); }

inline BinaryRun RunBinaryForTesting(const std::string& binary,
                                     const std::vector<std::string>& args) {
  return RunGqaForTesting(binary, args);
}

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_RUN_BINARY_FOR_TEST_H_
