// Row dot products between stored weights (any WeightFormat) and activations,
// the inner loop of every CPU matmul. Quantized weights meet activations that
// were quantized to 8-bit blocks (ActivationBlock) and multiply in integers,
// as llama.cpp does; float weights meet f32 activations. Each function sums in
// a fixed order that depends only on the row length, so a result never
// depends on batch size or threading (batch invariance). AVX2+FMA code is
// chosen at run time when the CPU has it. Pure functions; thread-safe.
#ifndef GQA_WORKER_BACKEND_CPU_DOT_KERNELS_H_
#define GQA_WORKER_BACKEND_CPU_DOT_KERNELS_H_

#include <cstdint>

#include "worker/backend/weight_format.h"

namespace gqa::cpu {

// 32 activations as int8 with one f32 scale: x[i] ~= scale * qs[i].
struct ActivationBlock {
  float scale;
  int32_t sum;  // sum of qs, for the offset terms of Q4_0 and Q4_1
  int8_t qs[kQuantBlockElems];
};

// True when `format` is multiplied against quantized activations.
constexpr bool UsesQuantizedActivations(WeightFormat format) {
  return format == WeightFormat::kQ8_0 || format == WeightFormat::kQ4_0 ||
         format == WeightFormat::kQ4_1;
}

// Quantizes x[0, n) into n/32 blocks (round to nearest, scale = amax / 127).
// REQUIRES: n % 32 == 0.
void QuantizeActivations(const float* x, int64_t n, ActivationBlock* out);

// dot(weight row, x) over n elements. For quantized formats pass `xq` (from
// QuantizeActivations), otherwise `x`. REQUIRES: n is a multiple of
// BlockElems(format).
float DotRow(WeightFormat format, const uint8_t* row, const float* x, const ActivationBlock* xq,
             int64_t n);

// Dequantizes one stored row into n floats.
void DequantizeRow(WeightFormat format, const uint8_t* row, int64_t n, float* out);

namespace internal {
// The two implementations behind DotRow, exposed so tests can compare them.
float DotRowScalar(WeightFormat format, const uint8_t* row, const float* x,
                   const ActivationBlock* xq, int64_t n);
float DotRowAvx2(WeightFormat format, const uint8_t* row, const float* x,
                 const ActivationBlock* xq, int64_t n);
// The two implementations behind QuantizeActivations (bit-identical).
void QuantizeActivationsScalar(const float* x, int64_t n, ActivationBlock* out);
void QuantizeActivationsAvx2(const float* x, int64_t n, ActivationBlock* out);
// True when the CPU runs AVX2 and FMA (DotRow then uses DotRowAvx2).
bool CpuHasAvx2Fma();
}  // namespace internal

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_DOT_KERNELS_H_
