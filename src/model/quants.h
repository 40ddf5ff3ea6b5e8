// ggml's block-quantized weight formats: decoding (dequantize_*) and encoding
// (quantize_*) of whole blocks.
//
// Layouts are ggml's (ggml-common.h), little-endian, fp16 scales:
//   Q4_0  32 values, 18 B: d; qs[16]       x = d * (q - 8), q in 0..15
//   Q4_1  32 values, 20 B: d, m; qs[16]    x = d * q + m
//   Q5_0  32 values, 22 B: d; qh[4]; qs[16]   x = d * (q - 16), q in 0..31
//   Q5_1  32 values, 24 B: d, m; qh[4]; qs[16] x = d * q + m
//   Q8_0  32 values, 34 B: d; int8 qs[32]  x = d * q
//   Q2_K 256 values, 84 B: scales[16] (4-bit scale | 4-bit min); qs[64]; d, dmin
//         x = d*sc * q - dmin*m, q in 0..3, one (sc, m) per 16 values
//   Q3_K 256 values, 110 B: hmask[32]; qs[64]; scales[12] (16 6-bit, +32); d
//         x = d*(sc-32) * q, q in -4..3 (2 low bits in qs, high bit in hmask)
//   Q4_K 256 values, 144 B: d, dmin; scales[12] (8 6-bit scales and mins); qs[128]
//         x = d*sc * q - dmin*m, q in 0..15, one (sc, m) per 32 values
//   Q5_K 256 values, 176 B: d, dmin; scales[12]; qh[32]; qs[128]   q in 0..31
//   Q6_K 256 values, 210 B: ql[128]; qh[64]; int8 scales[16]; d
//         x = d*sc * q, q in -32..31, one sc per 16 values
// Element order inside a block (which nibble or bit holds which value) is
// ggml's; the dequantizers follow ggml's dequantize_row_* arithmetic step by
// step, so they give ggml's values.
//
// Encoders: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 are ggml's reference quantizers
// (quantize_row_*_ref), bit for bit. The K-quant encoders write valid blocks
// with a plain fit per sub-block (min/max for the asymmetric types, the
// largest magnitude for the symmetric ones), then quantize the sub-block
// scales against the block's d as ggml does; they skip ggml's iterative scale
// search (make_qkx2_quants / make_q3_quants), so their bytes differ from
// llama-quantize's, and their error is somewhat larger.
#pragma once

#include <cstdint>

namespace cascade::quants {

constexpr int kQK = 32;   // values per block of the simple formats
constexpr int kQKK = 256; // values per K-quant super-block

void dequantize_q4_0(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q4_1(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q5_0(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q5_1(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q8_0(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q2_k(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q3_k(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q4_k(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q5_k(const uint8_t* src, uint64_t n_blocks, float* dst);
void dequantize_q6_k(const uint8_t* src, uint64_t n_blocks, float* dst);

void quantize_q4_0(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q4_1(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q5_0(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q5_1(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q8_0(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q2_k(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q3_k(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q4_k(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q5_k(const float* src, uint64_t n_blocks, uint8_t* dst);
void quantize_q6_k(const float* src, uint64_t n_blocks, uint8_t* dst);

}  // namespace cascade::quants
