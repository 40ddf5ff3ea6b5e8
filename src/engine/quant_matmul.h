// Matrix products with weights kept quantized (Model's QuantMatrix views):
// each weight row is dequantized into a small buffer (model/quants.h, the same
// values the loader would have expanded) and used at once, so memory holds
// the file's bytes rather than fp32 copies.
//
// Exactness: every output is the dot product of one dequantized weight row
// with one input row, summed in one fixed order whatever n is, so a row's
// result does not depend on which other rows share the call (the property
// kernels.h's matmul gives, which CompNodes rely on). Against the fp32 model
// holding the dequantized weights the only difference is summation order.
//
// Speed: a portable reference (auto-vectorised dot, OpenMP over output rows),
// not a tuned kernel; fused SIMD dequantize-and-dot kernels belong in
// src/kernels.
#pragma once

#include <cstdint>

#include "model/model.h"

namespace cascade {

// y[n][out] = x[n][in] · W[out][in]^T (+ bias[out] if not null).
void quant_matmul(float* y, const float* x, const QuantMatrix& W, const float* bias, int n, int in, int out);

// dst[in] = row r of W, dequantized.
void quant_row(const QuantMatrix& W, int64_t r, int in, float* dst);

}  // namespace cascade
