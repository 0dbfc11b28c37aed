// ResidentWeights: one rank's weights where its backend's ops read them. On
// a backend whose memory is the host's (the CPU) they are the ModelWeights
// views themselves, into the model file's mapping: nothing is copied. On any
// other backend (CUDA) every matrix and norm is copied once into backend
// memory at load, packed (a tensor-parallel column slice loses its stride):
// F32, F16 and BF16 as stored, Q8_0 / Q4_0 / Q4_1 dequantized on the host to
// `quantized_as` (BF16: 2 bytes per weight, 3.2-3.6x the quantized file; F32:
// 4 bytes, exact). A tied LM head shares the embedding's copy. Immutable
// after creation; thread-safe to read.
#ifndef GQA_WORKER_ENGINE_RESIDENT_WEIGHTS_H_
#define GQA_WORKER_ENGINE_RESIDENT_WEIGHTS_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend/backend.h"
#include "worker/engine/model_weights.h"

namespace gqa {

struct ResidentWeightOptions {
  // What quantized weights become in backend memory: kBF16 or kF32.
  WeightFormat quantized_as = WeightFormat::kBF16;
};

class ResidentWeights {
 public:
  // INVALID_ARGUMENT for a `quantized_as` other than BF16 / F32;
  // RESOURCE_EXHAUSTED when backend memory runs out.
  static absl::StatusOr<ResidentWeights> Create(const ModelWeights& host, Backend& backend,
                                                const ResidentWeightOptions& options = {});

  const ModelWeights& views() const { return views_; }
  // Backend memory held for the copies (0 on host memory).
  int64_t bytes() const { return bytes_; }

 private:
  ModelWeights views_;
  std::vector<std::unique_ptr<BackendBuffer>> buffers_;
  int64_t bytes_ = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_RESIDENT_WEIGHTS_H_
