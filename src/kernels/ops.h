// The per-ISA inner loops behind kernels.h (internal to src/kernels).
//
// Each instruction set fills one KernelOps table in its own file, compiled
// with that ISA's flags only (CMakeLists.txt): ops_scalar.cc (plain C++, the
// reference), ops_avx2.cc (AVX2 + FMA, 16 ymm registers, no AVX-512 even in a
// -march=native build, so the path behaves as on an AVX2-only CPU) and
// ops_avx512.cc. kernels.cc owns threading and calls the table that
// isa.cc picked. The ISA files include no C++ library templates, so no
// inline function compiled for a wider ISA can be linked in for another.
//
// Every entry computes what the scalar reference does, within fp32
// rounding. The SIMD panel GEMM and the dot product are bit-identical across
// AVX2 and AVX-512 (same FMA chains, same reduction tree), so hosts of
// either kind produce the same GEMM/GEMV outputs.
#pragma once

#include <cstdint>

namespace cascade::ops {

struct KernelOps {
  const char* name;
  // One panel of kPanel outputs for n rows: y[i][0..kPanel) = x[i][0..in) ·
  // panel (the panel as pack_panels stores it). Each output is one FMA chain
  // over k = 0..in-1 in order, whatever n is.
  void (*gemm_panel)(float* y, int ldy, const float* x, int ldx, const float* panel, int n, int in);
  // Σ a[i]·b[i] (the decode GEMV's row, attention's q·k).
  float (*dot)(const float* a, const float* b, int n);
  // y[i] += a·x[i].
  void (*axpy)(float* y, float a, const float* x, int n);
  // y[i] *= a.
  void (*scale)(float* y, float a, int n);
  // row[s] = -inf where k_pos[s] > qp; returns max over the row.
  float (*mask_future_and_max)(float* row, const int32_t* k_pos, int32_t qp, int n);
  // row[s] = e^(row[s] − mx); returns Σ row[s]. e^(-inf) = 0.
  float (*exp_shift_sum)(float* row, float mx, int n);
  // Softmax of one vector, in place.
  void (*softmax)(float* x, int n);
  // One row of RMSNorm / LayerNorm (b may be null). y may alias x.
  void (*rmsnorm_row)(float* y, const float* x, const float* w, int d, float eps);
  void (*layernorm_row)(float* y, const float* x, const float* w, const float* b, int d, float eps);
  // Rotary embedding of one row of n_heads × head_dim at position pos.
  void (*rope_row)(float* x, int32_t pos, int n_heads, int head_dim, const float* inv_freq, int style);
  void (*swiglu)(float* out, const float* gate, const float* up, int64_t count);
  void (*gelu)(float* x, int64_t count);
};

const KernelOps& scalar_ops();
const KernelOps& avx2_ops();    // scalar_ops() where the compiler targets no x86
const KernelOps& avx512_ops();  // likewise

// The table isa.cc selected (kernels/isa.h); the first call decides.
const KernelOps& active();

}  // namespace cascade::ops
