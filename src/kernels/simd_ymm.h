// 8-float (ymm) helpers shared by ops_avx2.cc and ops_avx512.cc. Everything
// here has internal linkage: each ISA file gets its own copy, compiled with
// its own flags (see ops.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace cascade::ops {
namespace {

// Σ of 8 lanes: (lo128 + hi128), then lanes (0+2, 1+3), then 0+1. The
// AVX-512 dot reduces its last 8 lanes with this too, so both agree bitwise.
inline float hsum8(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// e^x for 8 floats (Cephes' expf polynomial; relative error ~2e-7);
// x below -87.3 (masked scores: -inf) gives exactly 0.
inline __m256 exp8(__m256 x) {
  const __m256 zero_below = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 g = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  g = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), g);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, g, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, g, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, g, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, g, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, g, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(g, g), _mm256_add_ps(g, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(n)), zero_below);
}

// cos and sin of 4 angles, each given as a float (the reference rounds the
// angle pos·inv_freq to float before std::cos/std::sin). Reduced by π/2 in
// double (two-part π/2, exact for angles far beyond any context length),
// then Taylor polynomials to degree 12/11 on |r| ≤ π/4 (error < 1e-11), so
// the float results are those of std::cos/std::sin to the last bit or one.
inline void cos_sin4(__m128 angle, __m128* c, __m128* s) {
  const __m256d x = _mm256_cvtps_pd(angle);
  const __m256d q = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(0.63661977236758134308)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(q, _mm256_set1_pd(1.57079632673412561417e+00), x);
  r = _mm256_fnmadd_pd(q, _mm256_set1_pd(6.07710050650619224932e-11), r);
  const __m256d r2 = _mm256_mul_pd(r, r);
  __m256d ps = _mm256_set1_pd(-1.0 / 39916800.0);
  ps = _mm256_fmadd_pd(ps, r2, _mm256_set1_pd(1.0 / 362880.0));
  ps = _mm256_fmadd_pd(ps, r2, _mm256_set1_pd(-1.0 / 5040.0));
  ps = _mm256_fmadd_pd(ps, r2, _mm256_set1_pd(1.0 / 120.0));
  ps = _mm256_fmadd_pd(ps, r2, _mm256_set1_pd(-1.0 / 6.0));
  const __m256d sin_r = _mm256_fmadd_pd(_mm256_mul_pd(ps, r2), r, r);
  __m256d pc = _mm256_set1_pd(1.0 / 479001600.0);
  pc = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(-1.0 / 3628800.0));
  pc = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(1.0 / 40320.0));
  pc = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(-1.0 / 720.0));
  pc = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(1.0 / 24.0));
  pc = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(-0.5));
  const __m256d cos_r = _mm256_fmadd_pd(pc, r2, _mm256_set1_pd(1.0));
  // Quadrant n = q mod 4: (cos, sin) = (c, s), (-s, c), (-c, -s), (s, -c).
  const __m256i n = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(q));
  const __m256d odd = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(n, _mm256_set1_epi64x(1)),
                                                             _mm256_set1_epi64x(1)));
  const __m256d sin_sign = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_and_si256(n, _mm256_set1_epi64x(2)), 62));
  const __m256d cos_sign = _mm256_castsi256_pd(
      _mm256_slli_epi64(_mm256_and_si256(_mm256_add_epi64(n, _mm256_set1_epi64x(1)), _mm256_set1_epi64x(2)), 62));
  const __m256d sv = _mm256_xor_pd(_mm256_blendv_pd(sin_r, cos_r, odd), sin_sign);
  const __m256d cv = _mm256_xor_pd(_mm256_blendv_pd(cos_r, sin_r, odd), cos_sign);
  *c = _mm256_cvtpd_ps(cv);
  *s = _mm256_cvtpd_ps(sv);
}

// c[j], s[j] = cos, sin of (float)(pos · inv_freq[j]) for j < half.
inline void rope_cos_sin(float* c, float* s, int32_t pos, const float* inv_freq, int half) {
  const __m128 vp = _mm_set1_ps((float)pos);
  for (int j = 0; j < half; j += 4) {
    alignas(16) float f[4] = {0, 0, 0, 0}, cj[4], sj[4];
    for (int t = 0; t < 4 && j + t < half; ++t) f[t] = inv_freq[j + t];
    __m128 cv, sv;
    cos_sin4(_mm_mul_ps(vp, _mm_load_ps(f)), &cv, &sv);
    _mm_store_ps(cj, cv);
    _mm_store_ps(sj, sv);
    for (int t = 0; t < 4 && j + t < half; ++t) c[j + t] = cj[t], s[j + t] = sj[t];
  }
}

// Rotates one head of head_dim values by the angles in c, s (half each).
// style 1: adjacent pairs (2j, 2j+1); 2: halves (j, j + half).
inline void rope_rotate(float* xh, const float* c, const float* s, int head_dim, int style) {
  const int half = head_dim / 2;
  if (style == 1) {
    int j = 0;
    for (; j + 4 <= half; j += 4) {
      // Lanes (v0, v1) per pair: even lane v0·c − v1·s, odd lane v1·c + v0·s.
      const __m128 c4 = _mm_loadu_ps(c + j), s4 = _mm_loadu_ps(s + j);
      const __m256 cd = _mm256_setr_m128(_mm_unpacklo_ps(c4, c4), _mm_unpackhi_ps(c4, c4));
      const __m256 sd = _mm256_setr_m128(_mm_unpacklo_ps(s4, s4), _mm_unpackhi_ps(s4, s4));
      const __m256 v = _mm256_loadu_ps(xh + 2 * j);
      const __m256 swapped = _mm256_permute_ps(v, 0xB1);
      _mm256_storeu_ps(xh + 2 * j, _mm256_fmaddsub_ps(v, cd, _mm256_mul_ps(swapped, sd)));
    }
    for (; j < half; ++j) {
      const float v0 = xh[2 * j], v1 = xh[2 * j + 1];
      xh[2 * j] = v0 * c[j] - v1 * s[j];
      xh[2 * j + 1] = v0 * s[j] + v1 * c[j];
    }
  } else {
    int j = 0;
    for (; j + 8 <= half; j += 8) {
      const __m256 cj = _mm256_loadu_ps(c + j), sj = _mm256_loadu_ps(s + j);
      const __m256 v0 = _mm256_loadu_ps(xh + j), v1 = _mm256_loadu_ps(xh + j + half);
      _mm256_storeu_ps(xh + j, _mm256_fmsub_ps(v0, cj, _mm256_mul_ps(v1, sj)));
      _mm256_storeu_ps(xh + j + half, _mm256_fmadd_ps(v0, sj, _mm256_mul_ps(v1, cj)));
    }
    for (; j < half; ++j) {
      const float v0 = xh[j], v1 = xh[j + half];
      xh[j] = v0 * c[j] - v1 * s[j];
      xh[j + half] = v0 * s[j] + v1 * c[j];
    }
  }
}

}  // namespace
}  // namespace cascade::ops
