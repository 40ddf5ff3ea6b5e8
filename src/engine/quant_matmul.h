// Matrix products with weights kept quantized (Model's QuantMatrix views):
// each weight row is dequantized into a small buffer (model/quants.h, the same
// values the loader would have expanded) and used at once, so memory holds
// the file's bytes rather than fp32 copies.
//
// Below 8 rows (decode, small CompNode shards) every output is the dot
// product of one dequantized weight row with one input row in a fixed order;
// from 8 rows on (prefill) tiles of 256 weight rows are dequantized, packed
// and multiplied with kernels.h's panel GEMM, which also sums each output in
// one order for any row count. Either way a row's result does not depend on
// which other rows share the call, and against the fp32 model holding the
// dequantized weights the only difference is summation order (<= 1e-4 on
// the logits in the tests).
//
// Speed: a portable reference for decode (auto-vectorised dot, OpenMP over
// output rows); fused SIMD dequantize-and-dot kernels belong in src/kernels.
#pragma once

#include <cstdint>

#include "model/model.h"

namespace cascade {

// y[n][out] = x[n][in] · W[out][in]^T (+ bias[out] if not null).
void quant_matmul(float* y, const float* x, const QuantMatrix& W, const float* bias, int n, int in, int out);

// dst[in] = row r of W, dequantized.
void quant_row(const QuantMatrix& W, int64_t r, int in, float* dst);

}  // namespace cascade
