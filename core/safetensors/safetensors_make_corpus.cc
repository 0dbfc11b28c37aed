// safetensors_make_corpus OUT_DIR: writes the safetensors rejection catalogue
// (safetensors_corpus_cases.h) as OUT_DIR/<case>.bin, the fuzzer's seeds.
//   ./build/core/safetensors/safetensors_make_corpus tests/testdata/safetensors/corpus
#include <cstdio>
#include <string>

#include "core/env.h"
#include "core/safetensors/safetensors_corpus_cases.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  gqa::Env* env = gqa::Env::Default();
  const std::string dir = argv[1];
  if (absl::Status s = env->CreateDirs(dir); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  int count = 0;
  for (const gqa::SafetensorsCorpusCase& c : gqa::SafetensorsCorpusCases()) {
    if (absl::Status s = env->WriteFileAtomically(dir + "/" + c.name + ".bin", c.bytes); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
    ++count;
  }
  std::printf("wrote %d files to %s\n", count, dir.c_str());
  return 0;
}
