// libFuzzer target for the safetensors readers: every input goes through
// ParseSafetensors() (touching both ends of each tensor's data when it
// parses), ModelConfigFromHfJson() and ParseSafetensorsIndex(). Any crash,
// hang, sanitizer report or huge allocation is a bug. Seed corpus:
// tests/testdata/safetensors/corpus (files, config.json and index cases).
#include <cstddef>
#include <cstdint>

#include "core/safetensors/hf_model_config.h"
#include "core/safetensors/safetensors_checkpoint.h"
#include "core/safetensors/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<gqa::SafetensorsFile> file = gqa::ParseSafetensors({data, size}, "fuzz");
  if (file.ok()) {
    uint64_t checksum = 0;
    for (const gqa::SafetensorsTensor& t : file->tensors()) {
      if (!t.data.empty()) checksum += t.data.front() + t.data.back();
      if (file->FindTensor(t.name) != &t) __builtin_trap();
    }
    for (const auto& [key, value] : file->metadata()) checksum += key.size() + value.size();
    (void)checksum;
  }
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  (void)gqa::ModelConfigFromHfJson(text, "config.json");
  (void)gqa::ParseSafetensorsIndex(text, "model.safetensors.index.json");
  return 0;
}
