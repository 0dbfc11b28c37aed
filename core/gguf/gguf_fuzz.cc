// libFuzzer target for the GGUF reader: ParseGguf() and, when that succeeds,
// ModelConfigFromGguf() and every typed getter on every key. Any crash, hang,
// sanitizer report or huge allocation is a bug. Seed corpus: tests/testdata/gguf.
#include <cstddef>
#include <cstdint>

#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<gqa::GgufFile> file = gqa::ParseGguf({data, size}, "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const gqa::GgufKv& kv : file->metadata()) {
    (void)file->GetString(kv.key);
    (void)file->GetUint(kv.key);
    (void)file->GetInt(kv.key);
    (void)file->GetFloat(kv.key);
    (void)file->GetBool(kv.key);
    (void)file->GetStringArray(kv.key);
    (void)file->GetIntArray(kv.key);
    (void)file->GetFloatArray(kv.key);
    (void)file->GetArrayLength(kv.key);
    (void)kv.value.DebugString();
  }
  uint64_t checksum = 0;
  for (const gqa::GgufTensorInfo& t : file->tensors()) {
    if (!t.data.empty()) checksum += t.data.front() + t.data.back();  // touch both ends
  }
  (void)checksum;
  (void)gqa::ModelConfigFromGguf(*file);
  return 0;
}
