// GgmlType: the tensor element types a GGUF file can name (ggml's type ids),
// with their block geometry (elements and bytes per block), so the GGUF reader
// can size every tensor and the loaders can tell what they support.
// Plain constants and pure functions; thread-safe.
// Format reference: docs/formats/gguf.md.
#ifndef GQA_CORE_GGUF_GGML_TYPE_H_
#define GQA_CORE_GGUF_GGML_TYPE_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace gqa {

// ggml's type ids as written in GGUF tensor infos. Ids 4, 5, 31-33 and 36-38
// were removed from ggml and are not listed; files using them are rejected.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// How a type packs elements: `block_elems` consecutive elements of a row
// (along ne0) are stored in `block_bytes` bytes.
struct GgmlTypeTraits {
  GgmlType type;
  absl::string_view name;  // ggml's spelling: "F32", "Q4_0", ...
  int64_t block_elems;
  int64_t block_bytes;
};

// The traits of type id `type_id`, or nullopt for an id ggml does not define
// (or no longer defines).
std::optional<GgmlTypeTraits> LookupGgmlType(uint32_t type_id);

// Traits of a listed enumerator (never fails for a GgmlType value).
GgmlTypeTraits GetGgmlTypeTraits(GgmlType type);

// "F32", "Q4_0", ...; "unknown" for a value that is not listed.
absl::string_view GgmlTypeName(GgmlType type);

// True for the types gqaserve's backends compute with directly: F32, F16,
// BF16, Q8_0, Q4_0 and Q4_1 (worker/backend/weight_format.h). The reader
// accepts every listed type; loaders refuse the rest with UNIMPLEMENTED.
bool IsGgmlTypeSupportedForCompute(GgmlType type);

}  // namespace gqa

#endif  // GQA_CORE_GGUF_GGML_TYPE_H_
