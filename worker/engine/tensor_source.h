// TensorSource: the model loader's view of a checkpoint, independent of the
// file format (GGUF today; safetensors through the same interface). A source
// owns the file mapping; the spans it returns live as long as the source.
// Thread-compatible.
#ifndef GQA_WORKER_ENGINE_TENSOR_SOURCE_H_
#define GQA_WORKER_ENGINE_TENSOR_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/model_config.h"
#include "worker/backend/weight_format.h"

namespace gqa {

struct RawTensor {
  std::string name;
  WeightFormat format = WeightFormat::kF32;
  std::vector<int64_t> shape;       // outermost first: a matrix is {rows, cols}
  absl::Span<const uint8_t> bytes;  // the stored data
};

// Layout conventions of the Q and K projections, which decide how RoPE pairs
// dimensions (GGUF's llama converter permutes Q/K for adjacent pairs; Hugging
// Face checkpoints rotate halves).
enum class RopeLayout { kInterleavedPairs, kHalfSplit };

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual RopeLayout rope_layout() const = 0;
  // A fingerprint of the weights and shape (hex), equal for equal files.
  virtual const std::string& fingerprint() const = 0;
  // NOT_FOUND naming the tensor when absent.
  virtual absl::StatusOr<RawTensor> Find(absl::string_view name) const = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_TENSOR_SOURCE_H_
