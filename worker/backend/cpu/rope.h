// Rotary position embeddings on the CPU, with angles computed in double
// precision from the position and the (scaled) inverse frequencies.
// Pure function over its params; thread-safe.
#ifndef GQA_WORKER_BACKEND_CPU_ROPE_H_
#define GQA_WORKER_BACKEND_CPU_ROPE_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

// The head_dim/2 inverse frequencies theta^(-2i/head_dim), adjusted for the
// scaling (linear divides by the factor; llama3 as in Llama 3.1).
// UNIMPLEMENTED for yarn; INVALID_ARGUMENT for an odd head_dim.
absl::StatusOr<std::vector<double>> RopeInverseFrequencies(int64_t head_dim, double theta,
                                                           const RopeScaling& scaling);

absl::Status ApplyRope(const RopeParams& params);

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_ROPE_H_
