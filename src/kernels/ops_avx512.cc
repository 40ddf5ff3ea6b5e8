// AVX-512 kernels: 32 zmm registers of 16 floats. Compiled with AVX-512
// F/DQ/BW/VL flags (CMakeLists.txt); run only where CPUID reports them.
#include "kernels/kernels.h"
#include "kernels/ops.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 intrinsics warn about their own _mm512_undefined_*
// placeholders (GCC bug 105593); nothing here reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd_ymm.h"

namespace cascade::ops {

namespace {

constexpr float kNegInf = -__builtin_inff();

// MR rows of y for one panel's kPanel outputs, over inputs [k0, k1): y =
// (k0 == 0 ? 0 : y) + x[:, k0:k1] · panel[k0:k1]. The whole tile stays in
// registers (2·MR accumulators) while the panel's rows stream through once.
template <int MR>
inline void tile(float* y, int ldy, const float* x, int ldx, const float* panel, int k0, int k1) {
  __m512 a0[MR], a1[MR];
  for (int i = 0; i < MR; ++i) {
    a0[i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y + (size_t)i * ldy);
    a1[i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y + (size_t)i * ldy + 16);
  }
  const float* p = panel + (size_t)k0 * kPanel;
  for (int k = k0; k < k1; ++k, p += kPanel) {
    // The first tile over a panel block waits on memory (all of them with a
    // batch of decode rows): fetch the panel 16 inputs ahead (measured in
    // docs/PERFORMANCE.md). Later tiles find the block in L1.
    _mm_prefetch(reinterpret_cast<const char*>(p + 16 * kPanel), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 16 * kPanel + 16), _MM_HINT_T0);
    const __m512 w0 = _mm512_loadu_ps(p), w1 = _mm512_loadu_ps(p + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 xb = _mm512_set1_ps(x[(size_t)i * ldx + k]);
      a0[i] = _mm512_fmadd_ps(xb, w0, a0[i]);
      a1[i] = _mm512_fmadd_ps(xb, w1, a1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_ps(y + (size_t)i * ldy, a0[i]);
    _mm512_storeu_ps(y + (size_t)i * ldy + 16, a1[i]);
  }
}

// A 12-row × 32-output tile (24 accumulators of 32 zmm registers). Inputs in
// blocks of kBlock so a panel block (kBlock·kPanel floats, 32 KiB) stays in
// L1 while every row tile uses it.
void gemm_panel(float* y, int ldy, const float* x, int ldx, const float* panel, int n, int in) {
  constexpr int kRows = 12, kBlock = 256;
  for (int k0 = 0; k0 < in; k0 += kBlock) {
    const int k1 = in < k0 + kBlock ? in : k0 + kBlock;
    int i = 0;
    for (; i + kRows <= n; i += kRows) tile<kRows>(y + (size_t)i * ldy, ldy, x + (size_t)i * ldx, ldx, panel, k0, k1);
    float* yi = y + (size_t)i * ldy;
    const float* xi = x + (size_t)i * ldx;
    switch (n - i) {
#define CASCADE_REST(R) \
  case R: tile<R>(yi, ldy, xi, ldx, panel, k0, k1); break;
      CASCADE_REST(1) CASCADE_REST(2) CASCADE_REST(3) CASCADE_REST(4) CASCADE_REST(5) CASCADE_REST(6)
      CASCADE_REST(7) CASCADE_REST(8) CASCADE_REST(9) CASCADE_REST(10) CASCADE_REST(11)
#undef CASCADE_REST
    }
  }
}

// Four accumulators over 64 floats per step; the reduction tree matches the
// AVX2 dot's (see there).
float dot(const float* a, const float* b, int n) {
  int i = 0;
  __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
  for (; i + 64 <= n; i += 64) {
    c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), c0);
    c1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), c1);
    c2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), c2);
    c3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), c3);
  }
  for (; i + 16 <= n; i += 16) c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), c0);
  const __m512 v = _mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3));
  float s = hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
  for (; i < n; ++i) s = __builtin_fmaf(a[i], b[i], s);
  return s;
}

void axpy(float* y, float a, const float* x, int n) {
  int i = 0;
  const __m512 va = _mm512_set1_ps(a);
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void scale(float* y, float a, int n) {
  int i = 0;
  const __m512 va = _mm512_set1_ps(a);
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

float mask_future_and_max(float* row, const int32_t* k_pos, int32_t qp, int n) {
  int s = 0;
  const __m512i vq = _mm512_set1_epi32(qp);
  const __m512 ninf = _mm512_set1_ps(kNegInf);
  __m512 vmax = ninf;
  for (; s < n; s += 16) {
    const __mmask16 live = n - s >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - s)) - 1);
    const __m512i kp = _mm512_maskz_loadu_epi32(live, k_pos + s);
    const __mmask16 future = _mm512_cmpgt_epi32_mask(kp, vq);
    const __m512 x = _mm512_mask_blend_ps(future, _mm512_mask_loadu_ps(ninf, live, row + s), ninf);
    _mm512_mask_storeu_ps(row + s, live, x);
    vmax = _mm512_max_ps(vmax, x);
  }
  return _mm512_reduce_max_ps(vmax);
}

// e^x for 16 floats: exp8's polynomial lane for lane (the same bits).
inline __m512 exp16(__m512 x) {
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 g = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  g = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), g);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, g, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, g, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, g, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, g, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, g, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(g, g), _mm512_add_ps(g, _mm512_set1_ps(1.0f)));
  const __m512i n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(keep, y, _mm512_castsi512_ps(n));
}

float exp_shift_sum(float* row, float mx, int n) {
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 acc = _mm512_setzero_ps();
  for (int s = 0; s < n; s += 16) {
    const __mmask16 live = n - s >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - s)) - 1);
    const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, row + s), vm)));
    _mm512_mask_storeu_ps(row + s, live, e);
    acc = _mm512_add_ps(acc, e);
  }
  return _mm512_reduce_add_ps(acc);
}

void softmax(float* x, int n) {
  __m512 vmax = _mm512_set1_ps(kNegInf);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), live, x + i));
  }
  const float sum = exp_shift_sum(x, _mm512_reduce_max_ps(vmax), n);
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, live, _mm512_mul_ps(_mm512_maskz_loadu_ps(live, x + i), inv));
  }
}

inline __mmask16 live_mask(int left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

void rmsnorm_row(float* y, const float* x, const float* w, int d, float eps) {
  __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
  int j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m512 v0 = _mm512_loadu_ps(x + j), v1 = _mm512_loadu_ps(x + j + 16);
    c0 = _mm512_fmadd_ps(v0, v0, c0);
    c1 = _mm512_fmadd_ps(v1, v1, c1);
  }
  for (; j < d; j += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(live_mask(d - j), x + j);
    c0 = _mm512_fmadd_ps(v, v, c0);
  }
  const float ss = 1.0f / __builtin_sqrtf(_mm512_reduce_add_ps(_mm512_add_ps(c0, c1)) / d + eps);
  const __m512 vs = _mm512_set1_ps(ss);
  for (j = 0; j < d; j += 16) {
    const __mmask16 m = live_mask(d - j);
    _mm512_mask_storeu_ps(y + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + j),
                                                  _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, x + j))));
  }
}

void layernorm_row(float* y, const float* x, const float* w, const float* b, int d, float eps) {
  __m512 acc = _mm512_setzero_ps();
  for (int j = 0; j < d; j += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(live_mask(d - j), x + j));
  const float mean = _mm512_reduce_add_ps(acc) / d;
  const __m512 vm = _mm512_set1_ps(mean);
  acc = _mm512_setzero_ps();
  for (int j = 0; j < d; j += 16) {
    const __mmask16 m = live_mask(d - j);
    const __m512 c = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + j), vm);
    acc = _mm512_fmadd_ps(c, c, acc);
  }
  const float inv = 1.0f / __builtin_sqrtf(_mm512_reduce_add_ps(acc) / d + eps);
  const __m512 vi = _mm512_set1_ps(inv);
  for (int j = 0; j < d; j += 16) {
    const __mmask16 m = live_mask(d - j);
    const __m512 c = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm), vi);
    const __m512 bj = b ? _mm512_maskz_loadu_ps(m, b + j) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(y + j, m, _mm512_fmadd_ps(c, _mm512_maskz_loadu_ps(m, w + j), bj));
  }
}

void rope_row(float* x, int32_t pos, int n_heads, int head_dim, const float* inv_freq, int style) {
  constexpr int kMaxHalf = 512;
  if (head_dim / 2 > kMaxHalf) return scalar_ops().rope_row(x, pos, n_heads, head_dim, inv_freq, style);
  alignas(64) float c[kMaxHalf], s[kMaxHalf];
  rope_cos_sin(c, s, pos, inv_freq, head_dim / 2);
  for (int h = 0; h < n_heads; ++h) rope_rotate(x + (size_t)h * head_dim, c, s, head_dim, style);
}

inline __m512 swiglu16(__m512 g, __m512 u) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
  return _mm512_mul_ps(_mm512_mul_ps(g, _mm512_div_ps(one, _mm512_add_ps(one, e))), u);
}

void swiglu(float* out, const float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = live_mask(count - i >= 16 ? 16 : (int)(count - i));
    _mm512_mask_storeu_ps(out + i, m, swiglu16(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// As the AVX2 gelu8.
inline __m512 gelu16(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
  const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
  const __m512 t = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), v3, v));
  // 1 + tanh(t) = 2e^2t / (e^2t + 1): no cancellation for negative t; past
  // 2t = 20 it is 2 in fp32, so the exponent stops there (no inf/inf).
  const __m512 e = exp16(_mm512_min_ps(_mm512_mul_ps(two, t), _mm512_set1_ps(20.0f)));
  const __m512 one_plus_tanh = _mm512_div_ps(_mm512_mul_ps(two, e), _mm512_add_ps(e, one));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), one_plus_tanh);
}

void gelu(float* x, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = live_mask(count - i >= 16 ? 16 : (int)(count - i));
    _mm512_mask_storeu_ps(x + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace

const KernelOps& avx512_ops() {
  static const KernelOps t{"avx512", gemm_panel,  dot,           axpy,     scale,  mask_future_and_max, exp_shift_sum,
                           softmax,  rmsnorm_row, layernorm_row, rope_row, swiglu, gelu};
  return t;
}

}  // namespace cascade::ops

#else  // no x86: never selected (isa_supported is false)

namespace cascade::ops {
const KernelOps& avx512_ops() { return scalar_ops(); }
}  // namespace cascade::ops

#endif
