// Quantized row x token tiles, the inner loop of the CPU GEMM for Q8_0, Q4_0
// and Q4_1 weights: one weight row is unpacked once per block and multiplied
// against up to kMaxTileTokens tokens' 8-bit activation blocks. Every (row,
// token) result is summed in exactly the order DotRow uses for that token
// alone, so a tile of any size gives bit-identical results (batch invariance).
// Used by cpu::Gemm and by DotRow (a one-token tile). Pure functions.
#ifndef GQA_WORKER_BACKEND_CPU_QUANT_TILE_H_
#define GQA_WORKER_BACKEND_CPU_QUANT_TILE_H_

#include <cstdint>
#include <vector>

#include "worker/backend/cpu/dot_kernels.h"
#include "worker/backend/weight_format.h"

namespace gqa::cpu {

inline constexpr int kMaxTileTokens = 8;

// Up to kMaxTileTokens tokens' activation blocks, plus (for tiles of two or
// more) the per-block scales and sums laid out token-in-lane:
// lanes[b * 16 + t] = scale of token t in block b, lanes[b * 16 + 8 + t] =
// its sum as float (read by Q4_1's offset term).
struct TokenTile {
  const ActivationBlock* xq[kMaxTileTokens] = {};
  int num_tokens = 0;
  std::vector<float> lanes;  // [blocks][16]
};

// Fills `tile` with tokens [first, first + count) of xq, each `blocks` long.
// REQUIRES: 1 <= count <= kMaxTileTokens.
void MakeTokenTile(const ActivationBlock* xq, int64_t blocks, int64_t first, int count,
                   TokenTile* tile);

// out[t] = dot(row, token t of tile) over `blocks` blocks of `format`.
// REQUIRES: format is quantized and the CPU has AVX2 and FMA.
void QuantRowTileAvx2(WeightFormat format, const uint8_t* row, int64_t blocks,
                      const TokenTile& tile, float* out);

// How a tile orders each (row, token) sum. kInvariant (production) always
// sums blocks in one chain; kFreeOrder (benchmarks only, to measure what
// invariance costs) splits one-token and two-token tiles into 4 and 2 chains
// over interleaved blocks, the faster order for them, so a token's result
// then depends on its tile size.
enum class TileOrder { kInvariant, kFreeOrder };
void QuantRowTileAvx2Order(TileOrder order, WeightFormat format, const uint8_t* row, int64_t blocks,
                           const TokenTile& tile, float* out);

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_QUANT_TILE_H_
