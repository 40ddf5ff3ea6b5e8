// AVX2 + FMA kernels: 16 ymm registers of 8 floats. Compiled with
// -mavx2 -mfma -mno-avx512f (CMakeLists.txt), so even a -march=native build
// on an AVX-512 machine gets exactly what an AVX2-only CPU runs.
#include "kernels/kernels.h"
#include "kernels/ops.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd_ymm.h"

namespace cascade::ops {

namespace {

constexpr float kNegInf = -__builtin_inff();

// MR ≤ 6 rows × 16 outputs of y, over inputs [k0, k1): y = (k0 == 0 ? 0 :
// y) + x[:, k0:k1] · panel[k0:k1][0:16]. Twelve accumulators, two weight
// vectors and one broadcast: 15 of the 16 ymm registers; per input, 8 loads
// feed 12 FMAs. `panel` points at the 16-column half of a kPanel-wide panel.
// The accumulators are named variables: held in an array, GCC 12 stored
// them to the stack on every input.
template <int MR>
inline void tile(float* y, int ldy, const float* x, int ldx, const float* panel, int k0, int k1) {
  static_assert(MR >= 1 && MR <= 6);
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
#define CASCADE_ROWS(F) F(0) F(1) F(2) F(3) F(4) F(5)
#define CASCADE_LOAD(i)                                                                       \
  if constexpr (MR > i) {                                                                     \
    c##i##0 = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(y + (size_t)i * ldy);          \
    c##i##1 = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(y + (size_t)i * ldy + 8);      \
  }
#define CASCADE_FMA(i)                                                   \
  if constexpr (MR > i) {                                                \
    const __m256 xb = _mm256_broadcast_ss(x + (size_t)i * ldx + k);      \
    c##i##0 = _mm256_fmadd_ps(xb, w0, c##i##0);                          \
    c##i##1 = _mm256_fmadd_ps(xb, w1, c##i##1);                          \
  }
#define CASCADE_STORE(i)                                       \
  if constexpr (MR > i) {                                      \
    _mm256_storeu_ps(y + (size_t)i * ldy, c##i##0);            \
    _mm256_storeu_ps(y + (size_t)i * ldy + 8, c##i##1);        \
  }
  CASCADE_ROWS(CASCADE_LOAD)
  const float* p = panel + (size_t)k0 * kPanel;
  for (int k = k0; k < k1; ++k, p += kPanel) {
    // With few rows the loads wait on memory (a batch of decode rows): fetch
    // ahead. With many, the block is in L1 after the first tile and this
    // costs one uop per 12 FMAs.
    _mm_prefetch(reinterpret_cast<const char*>(p + 16 * kPanel), _MM_HINT_T0);
    const __m256 w0 = _mm256_loadu_ps(p), w1 = _mm256_loadu_ps(p + 8);
    CASCADE_ROWS(CASCADE_FMA)
  }
  CASCADE_ROWS(CASCADE_STORE)
#undef CASCADE_STORE
#undef CASCADE_FMA
#undef CASCADE_LOAD
#undef CASCADE_ROWS
}

// Inputs go in blocks of kBlock so the half-panel block (kBlock · 16 floats,
// 16 KiB) stays in L1 while every row tile uses it.
void gemm_panel(float* y, int ldy, const float* x, int ldx, const float* panel, int n, int in) {
  constexpr int kRows = 6, kBlock = 256, kHalf = 16;
  static_assert(kPanel == 2 * kHalf, "the tile covers half a panel");
  for (int half = 0; half < kPanel; half += kHalf)
    for (int k0 = 0; k0 < in; k0 += kBlock) {
      const int k1 = in < k0 + kBlock ? in : k0 + kBlock;
      int i = 0;
      for (; i + kRows <= n; i += kRows)
        tile<kRows>(y + (size_t)i * ldy + half, ldy, x + (size_t)i * ldx, ldx, panel + half, k0, k1);
      float* yi = y + (size_t)i * ldy + half;
      const float* xi = x + (size_t)i * ldx;
      switch (n - i) {
        case 1: tile<1>(yi, ldy, xi, ldx, panel + half, k0, k1); break;
        case 2: tile<2>(yi, ldy, xi, ldx, panel + half, k0, k1); break;
        case 3: tile<3>(yi, ldy, xi, ldx, panel + half, k0, k1); break;
        case 4: tile<4>(yi, ldy, xi, ldx, panel + half, k0, k1); break;
        case 5: tile<5>(yi, ldy, xi, ldx, panel + half, k0, k1); break;
      }
    }
}

// Eight accumulators over 64 floats per step: lanes as the AVX-512 dot's four
// 16-float accumulators, and the same reduction tree, so both give the same
// bits (the decode GEMV is the same on either kind of host).
float dot(const float* a, const float* b, int n) {
  int i = 0;
  __m256 c[8];
  for (auto& v : c) v = _mm256_setzero_ps();
  for (; i + 64 <= n; i += 64)
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) c[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j), c[j]);
  for (; i + 16 <= n; i += 16) {
    c[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), c[0]);
    c[1] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), c[1]);
  }
  // 16 lanes: (c0 + c1) + (c2 + c3) per AVX-512 accumulator; low 8 + high 8.
  const __m256 lo = _mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[4], c[6]));
  const __m256 hi = _mm256_add_ps(_mm256_add_ps(c[1], c[3]), _mm256_add_ps(c[5], c[7]));
  float s = hsum8(_mm256_add_ps(lo, hi));
  for (; i < n; ++i) s = __builtin_fmaf(a[i], b[i], s);
  return s;
}

void axpy(float* y, float a, const float* x, int n) {
  int i = 0;
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

void scale(float* y, float a, int n) {
  int i = 0;
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

float max_lanes(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

float mask_future_and_max(float* row, const int32_t* k_pos, int32_t qp, int n) {
  int s = 0;
  const __m256i vq = _mm256_set1_epi32(qp);
  const __m256 ninf = _mm256_set1_ps(kNegInf);
  __m256 vmax = ninf;
  for (; s + 8 <= n; s += 8) {
    const __m256i kp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k_pos + s));
    const __m256 future = _mm256_castsi256_ps(_mm256_cmpgt_epi32(kp, vq));
    const __m256 x = _mm256_blendv_ps(_mm256_loadu_ps(row + s), ninf, future);
    _mm256_storeu_ps(row + s, x);
    vmax = _mm256_max_ps(vmax, x);
  }
  float mx = max_lanes(vmax);
  for (; s < n; ++s) {
    if (k_pos[s] > qp) row[s] = kNegInf;
    mx = row[s] > mx ? row[s] : mx;
  }
  return mx;
}

// The tail goes through exp8 too (padded with -inf, which gives 0), so every
// element gets the same function.
float exp_shift_sum(float* row, float mx, int n) {
  int s = 0;
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  for (; s + 8 <= n; s += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + s), vm));
    _mm256_storeu_ps(row + s, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (s < n) {
    alignas(32) float t[8];
    for (int j = 0; j < 8; ++j) t[j] = s + j < n ? row[s + j] : kNegInf;
    const __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(t), vm));
    _mm256_store_ps(t, e);
    for (int j = 0; s + j < n; ++j) row[s + j] = t[j];
    acc = _mm256_add_ps(acc, e);
  }
  return hsum8(acc);
}

void softmax(float* x, int n) {
  __m256 vmax = _mm256_set1_ps(kNegInf);
  int i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float m = max_lanes(vmax);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  const __m256 inv = _mm256_set1_ps(1.0f / exp_shift_sum(x, m, n));
  // x / Σ as x · (1/Σ): within an ulp of the reference's division.
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for (; i < n; ++i) x[i] *= _mm256_cvtss_f32(inv);
}

// Σ x[j]² over d values, four accumulators.
float sum_squares(const float* x, int d) {
  __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
  int j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m256 v0 = _mm256_loadu_ps(x + j), v1 = _mm256_loadu_ps(x + j + 8);
    const __m256 v2 = _mm256_loadu_ps(x + j + 16), v3 = _mm256_loadu_ps(x + j + 24);
    c0 = _mm256_fmadd_ps(v0, v0, c0);
    c1 = _mm256_fmadd_ps(v1, v1, c1);
    c2 = _mm256_fmadd_ps(v2, v2, c2);
    c3 = _mm256_fmadd_ps(v3, v3, c3);
  }
  for (; j + 8 <= d; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    c0 = _mm256_fmadd_ps(v, v, c0);
  }
  float s = hsum8(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));
  for (; j < d; ++j) s = __builtin_fmaf(x[j], x[j], s);
  return s;
}

void rmsnorm_row(float* y, const float* x, const float* w, int d, float eps) {
  const float ss = 1.0f / __builtin_sqrtf(sum_squares(x, d) / d + eps);
  const __m256 vs = _mm256_set1_ps(ss);
  int j = 0;
  for (; j + 8 <= d; j += 8)
    _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(w + j), _mm256_mul_ps(vs, _mm256_loadu_ps(x + j))));
  for (; j < d; ++j) y[j] = w[j] * (ss * x[j]);
}

void layernorm_row(float* y, const float* x, const float* w, const float* b, int d, float eps) {
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= d; j += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + j));
  float mean = hsum8(acc);
  for (; j < d; ++j) mean += x[j];
  mean /= d;
  const __m256 vm = _mm256_set1_ps(mean);
  acc = _mm256_setzero_ps();
  for (j = 0; j + 8 <= d; j += 8) {
    const __m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + j), vm);
    acc = _mm256_fmadd_ps(c, c, acc);
  }
  float var = hsum8(acc);
  for (; j < d; ++j) var = __builtin_fmaf(x[j] - mean, x[j] - mean, var);
  var /= d;
  const float inv = 1.0f / __builtin_sqrtf(var + eps);
  const __m256 vi = _mm256_set1_ps(inv);
  for (j = 0; j + 8 <= d; j += 8) {
    const __m256 c = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm), vi);
    const __m256 bj = b ? _mm256_loadu_ps(b + j) : _mm256_setzero_ps();
    _mm256_storeu_ps(y + j, _mm256_fmadd_ps(c, _mm256_loadu_ps(w + j), bj));
  }
  for (; j < d; ++j) y[j] = __builtin_fmaf((x[j] - mean) * inv, w[j], b ? b[j] : 0.0f);
}

void rope_row(float* x, int32_t pos, int n_heads, int head_dim, const float* inv_freq, int style) {
  constexpr int kMaxHalf = 512;
  if (head_dim / 2 > kMaxHalf) return scalar_ops().rope_row(x, pos, n_heads, head_dim, inv_freq, style);
  alignas(32) float c[kMaxHalf], s[kMaxHalf];
  rope_cos_sin(c, s, pos, inv_freq, head_dim / 2);
  for (int h = 0; h < n_heads; ++h) rope_rotate(x + (size_t)h * head_dim, c, s, head_dim, style);
}

// silu(g)·u = g · 1/(1 + e^-g) · u; e^-g past the exp's range clamps to
// e^88 (the result is then g·u·~0, as std::exp's inf gives g·u·0).
inline __m256 swiglu8(__m256 g, __m256 u) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
  return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_div_ps(one, _mm256_add_ps(one, e))), u);
}

void swiglu(float* out, const float* gate, const float* up, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < count) {
    alignas(32) float g[8] = {}, u[8] = {};
    for (int j = 0; i + j < count; ++j) g[j] = gate[i + j], u[j] = up[i + j];
    _mm256_store_ps(g, swiglu8(_mm256_load_ps(g), _mm256_load_ps(u)));
    for (int j = 0; i + j < count; ++j) out[i + j] = g[j];
  }
}

// 0.5·v·(1 + tanh(t)), t = √(2/π)·(v + 0.044715·v³).
inline __m256 gelu8(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
  const __m256 t = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
  // 1 + tanh(t) = 2e^2t / (e^2t + 1): no cancellation for negative t; past
  // 2t = 20 it is 2 in fp32, so the exponent stops there (no inf/inf).
  const __m256 e = exp8(_mm256_min_ps(_mm256_mul_ps(two, t), _mm256_set1_ps(20.0f)));
  const __m256 one_plus_tanh = _mm256_div_ps(_mm256_mul_ps(two, e), _mm256_add_ps(e, one));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), one_plus_tanh);
}

void gelu(float* x, int64_t count) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
  if (i < count) {
    alignas(32) float t[8] = {};
    for (int j = 0; i + j < count; ++j) t[j] = x[i + j];
    _mm256_store_ps(t, gelu8(_mm256_load_ps(t)));
    for (int j = 0; i + j < count; ++j) x[i + j] = t[j];
  }
}

}  // namespace

const KernelOps& avx2_ops() {
  static const KernelOps t{"avx2",  gemm_panel,  dot,           axpy,     scale,  mask_future_and_max, exp_shift_sum,
                           softmax, rmsnorm_row, layernorm_row, rope_row, swiglu, gelu};
  return t;
}

}  // namespace cascade::ops

#else  // no x86: never selected (isa_supported is false)

namespace cascade::ops {
const KernelOps& avx2_ops() { return scalar_ops(); }
}  // namespace cascade::ops

#endif
