#include "worker/backend/cpu/gemm.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/backend/cpu/dot_kernels.h"

namespace gqa::cpu {
namespace {

// Output rows per parallel chunk: enough work per chunk to amortize the pool.
int64_t RowGrain(int64_t rows, int num_threads) {
  const int64_t chunks = std::max<int64_t>(1, 4 * num_threads);
  return std::max<int64_t>(16, (rows + chunks - 1) / chunks);
}

// Tokens per pass over a chunk of rows: their activations (up to 64 x 40
// bytes per block) stay in L2 while the chunk's rows pass over them.
constexpr int64_t kTokensPerPass = 8 * kMaxTileTokens;

constexpr int64_t kInlineQuantizeElems = 64 * 1536;

void Store(const GemmParams& p, int64_t t, int64_t r, float dot) {
  float& y = p.y[t * p.w.rows + r];
  y = p.accumulate ? y + dot : dot;
}

}  // namespace

namespace internal {

absl::Status GemmForTesting(const GemmParams& p, ThreadPool& pool, TileOrder order,
                            bool allow_tiles) {
  const WeightView& w = p.w;
  if (w.cols % BlockElems(w.format) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("gemm: ", w.cols, " columns are not whole ",
                                                   WeightFormatName(w.format), " blocks"));
  }
  const bool quantized = UsesQuantizedActivations(w.format);
  const int64_t blocks = w.cols / kQuantBlockElems;
  std::vector<ActivationBlock> xq;
  if (quantized) {
    xq.resize(p.num_tokens * blocks);
    auto quantize = [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        QuantizeActivations(p.x + t * w.cols, w.cols, xq.data() + t * blocks);
      }
    };
    // A decode step's few tokens quantize in about a microsecond, less than
    // waking the pool; prefill chunks are spread over it.
    if (p.num_tokens * w.cols <= kInlineQuantizeElems) {
      quantize(0, p.num_tokens);
    } else {
      pool.ParallelFor(p.num_tokens, 1, quantize);
    }
  }
  const int64_t grain = RowGrain(w.rows, pool.num_threads());
  if (!quantized || !allow_tiles || !CpuHasAvx2Fma()) {
    pool.ParallelFor(w.rows, grain, [&](int64_t begin, int64_t end) {
      // Rows outer, tokens inner: a chunk of weight rows stays in cache while
      // every token passes over it.
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t t = 0; t < p.num_tokens; ++t) {
          Store(p, t, r,
                DotRow(w.format, w.row(r), p.x + t * w.cols,
                       quantized ? xq.data() + t * blocks : nullptr, w.cols));
        }
      }
    });
    return absl::OkStatus();
  }
  std::vector<TokenTile> tiles((p.num_tokens + kMaxTileTokens - 1) / kMaxTileTokens);
  for (size_t i = 0; i < tiles.size(); ++i) {
    const int64_t first = static_cast<int64_t>(i) * kMaxTileTokens;
    MakeTokenTile(xq.data(), blocks, first,
                  static_cast<int>(std::min<int64_t>(kMaxTileTokens, p.num_tokens - first)),
                  &tiles[i]);
  }
  pool.ParallelFor(w.rows, grain, [&](int64_t begin, int64_t end) {
    float dots[kMaxTileTokens];
    for (int64_t pass = 0; pass < p.num_tokens; pass += kTokensPerPass) {
      const size_t first_tile = pass / kMaxTileTokens;
      const size_t end_tile =
          std::min(tiles.size(), static_cast<size_t>((pass + kTokensPerPass) / kMaxTileTokens));
      for (int64_t r = begin; r < end; ++r) {
        for (size_t i = first_tile; i < end_tile; ++i) {
          QuantRowTileAvx2Order(order, w.format, w.row(r), blocks, tiles[i], dots);
          for (int t = 0; t < tiles[i].num_tokens; ++t) {
            Store(p, static_cast<int64_t>(i) * kMaxTileTokens + t, r, dots[t]);
          }
        }
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace internal

absl::Status Gemm(const GemmParams& params, ThreadPool& pool) {
  return internal::GemmForTesting(params, pool, TileOrder::kInvariant, /*allow_tiles=*/true);
}

}  // namespace gqa::cpu
