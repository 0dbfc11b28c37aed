// CPU matrix multiply (GemmParams): y[t] = W x[t] for every token t. Weight
// rows are split across the pool in chunks; quantized formats run as row x
// token tiles (quant_tile.h), so a weight block is unpacked once per tile of
// up to 8 tokens. Each output element is summed in an order fixed by the row
// length alone, whatever the batch, tiling or threads (batch invariance).
// Used by the CPU backend and the GEMM microbenchmark. Thread-compatible.
#ifndef GQA_WORKER_BACKEND_CPU_GEMM_H_
#define GQA_WORKER_BACKEND_CPU_GEMM_H_

#include "absl/status/status.h"
#include "worker/backend/cpu/quant_tile.h"
#include "worker/backend/cpu/thread_pool.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

// INVALID_ARGUMENT when the weight columns are not whole blocks.
absl::Status Gemm(const GemmParams& params, ThreadPool& pool);

namespace internal {
// Gemm with the tile order chosen (kFreeOrder is not batch-invariant; for
// benchmarks) and the tiles switched off when !allow_tiles (one DotRow per
// row and token, the old kernel), so benchmarks and tests can compare them.
absl::Status GemmForTesting(const GemmParams& params, ThreadPool& pool, TileOrder order,
                            bool allow_tiles);
}  // namespace internal

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_GEMM_H_
