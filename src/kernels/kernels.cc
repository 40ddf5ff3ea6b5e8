#include "kernels/kernels.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace cascade {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

#if defined(__AVX2__) && defined(__FMA__)
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}
#endif

// Σ a[i]·b[i]. Four independent accumulators keep the FMA units busy; in
// the decode GEMV this reads W as one sequential stream, which measured
// faster than interleaving several rows (31 vs 26 GB/s here).
inline float dot(const float* a, const float* b, int n) {
  int i = 0;
  float s = 0.0f;
#if defined(__AVX512F__)
  __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
  for (; i + 64 <= n; i += 64) {
    c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), c0);
    c1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), c1);
    c2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), c2);
    c3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), c3);
  }
  for (; i + 16 <= n; i += 16) c0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), c0);
  s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)));
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), c0);
    c1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), c1);
    c2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), c2);
    c3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), c3);
  }
  for (; i + 8 <= n; i += 8) c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), c0);
  s = hsum(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));
#endif
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[i] += a·x[i].
inline void axpy(float* y, float a, const float* x, int n) {
  int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] += a * x[i];
}

// row[s] = -inf where k_pos[s] > qp (a future key); returns the row's max.
inline float mask_future_and_max(float* row, const int32_t* k_pos, int32_t qp, int n) {
  int s = 0;
  float mx = kNegInf;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256i vq = _mm256_set1_epi32(qp);
  const __m256 ninf = _mm256_set1_ps(kNegInf);
  __m256 vmax = ninf;
  for (; s + 8 <= n; s += 8) {
    __m256i kp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k_pos + s));
    __m256 future = _mm256_castsi256_ps(_mm256_cmpgt_epi32(kp, vq));
    __m256 x = _mm256_blendv_ps(_mm256_loadu_ps(row + s), ninf, future);
    _mm256_storeu_ps(row + s, x);
    vmax = _mm256_max_ps(vmax, x);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  for (float l : lanes) mx = std::max(mx, l);
#endif
  for (; s < n; ++s) {
    if (k_pos[s] > qp) row[s] = kNegInf;
    mx = std::max(mx, row[s]);
  }
  return mx;
}

#if defined(__AVX2__) && defined(__FMA__)
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
#endif

// row[s] = e^(row[s] − mx); returns Σ row[s].
inline float exp_shift_sum(float* row, float mx, int n) {
  int s = 0;
  float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 acc = _mm256_setzero_ps();
  for (; s + 8 <= n; s += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + s), vm));
    _mm256_storeu_ps(row + s, e);
    acc = _mm256_add_ps(acc, e);
  }
  sum = hsum(acc);
#endif
  for (; s < n; ++s) {
    row[s] = std::exp(row[s] - mx);
    sum += row[s];
  }
  return sum;
}


}  // namespace

int kernel_threads() { return omp_get_max_threads(); }

void pack_panels(float* panels, const float* W, int out, int in) {
  for (int p = 0; p < out / kPanel; ++p)
    for (int k = 0; k < in; ++k)
      for (int j = 0; j < kPanel; ++j)
        panels[((size_t)p * in + k) * kPanel + j] = W[(size_t)(p * kPanel + j) * in + k];
}

namespace {

// MR rows of y (stride ldy) for one panel's kPanel outputs, over inputs
// [k0, k1): y = (k0 == 0 ? 0 : y) + x[:, k0:k1] · panel[k0:k1]. The whole
// tile stays in registers (AVX-512: 2·MR accumulators) while the panel's
// rows stream through once.
template <int MR>
void panel_tile(float* y, int ldy, const float* x, int ldx, const float* panel, int k0, int k1) {
#if defined(__AVX512F__)
  __m512 a0[MR], a1[MR];
  for (int i = 0; i < MR; ++i) {
    a0[i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y + (size_t)i * ldy);
    a1[i] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(y + (size_t)i * ldy + 16);
  }
  const float* p = panel + (size_t)k0 * kPanel;
  for (int k = k0; k < k1; ++k, p += kPanel) {
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
#else
  float acc[MR][kPanel];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanel; ++j) acc[i][j] = k0 == 0 ? 0.0f : y[(size_t)i * ldy + j];
  for (int k = k0; k < k1; ++k) {
    const float* p = panel + (size_t)k * kPanel;
    for (int i = 0; i < MR; ++i) {
      const float xv = x[(size_t)i * ldx + k];
      for (int j = 0; j < kPanel; ++j) acc[i][j] += xv * p[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kPanel; ++j) y[(size_t)i * ldy + j] = acc[i][j];
#endif
}

// panel_tile for the last rows < 12 of a call.
void panel_tile_rest(int rows, float* y, int ldy, const float* x, int ldx, const float* panel, int k0, int k1) {
  switch (rows) {
#define CASCADE_REST(R) \
  case R: panel_tile<R>(y, ldy, x, ldx, panel, k0, k1); break;
    CASCADE_REST(1) CASCADE_REST(2) CASCADE_REST(3) CASCADE_REST(4) CASCADE_REST(5) CASCADE_REST(6)
    CASCADE_REST(7) CASCADE_REST(8) CASCADE_REST(9) CASCADE_REST(10) CASCADE_REST(11)
#undef CASCADE_REST
  }
}

// y[n][out] = x[n][in] · W^T from W's panels. Inputs go in blocks of kBlock
// so a panel block (kBlock·kPanel floats, 32 KiB) stays in L1 while every
// row tile uses it. Measured on one core against OpenBLAS sgemm (which packs
// W per call), 16 weight matrices in turn (kernel_bench BM_GemmPanels): 64
// rows 768→768 99 vs 82 GFLOP/s, 768→2048 96 vs 81, 2048→768 85 vs 70; 512
// rows 108 vs 102; on both cores at 512 rows about equal (197-203 vs 203-204).
void gemm_panels(float* y, const float* x, const float* panels, int n, int in, int out) {
  constexpr int kRows = 12, kBlock = 256;
  const int n_panels = out / kPanel;
#pragma omp parallel for schedule(dynamic, 1) if (!omp_in_parallel() && (int64_t)n * in * out >= (1 << 20))
  for (int p = 0; p < n_panels; ++p) {
    const float* panel = panels + (size_t)p * in * kPanel;
    for (int k0 = 0; k0 < in; k0 += kBlock) {
      const int k1 = std::min(in, k0 + kBlock);
      int i = 0;
      for (; i + kRows <= n; i += kRows)
        panel_tile<kRows>(y + (size_t)i * out + p * kPanel, out, x + (size_t)i * in, in, panel, k0, k1);
      if (i < n) panel_tile_rest(n - i, y + (size_t)i * out + p * kPanel, out, x + (size_t)i * in, in, panel, k0, k1);
    }
  }
}

}  // namespace

void matmul(float* y, const float* x, const float* W, const float* bias, int n, int in, int out,
            const float* panels) {
  if (n == 1) {  // decode: the bandwidth-bound GEMV of matmul_many
    matmul_many(x, 1, in, {{y, W, bias, out}});
    return;
  }
  if (n <= 0) return;
  if (panels)
    gemm_panels(y, x, panels, n, in, out);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
  if (bias)
    for (int i = 0; i < n; ++i) add_rows(y + (size_t)i * out, bias, out);
}

void matmul_many(const float* x, int n, int in, std::initializer_list<Projection> ps) {
  if (n != 1) {
    for (const Projection& p : ps) matmul(p.y, x, p.W, p.bias, n, in, p.out, p.panels);
    return;
  }
  const Projection* list = ps.begin();
  int total = 0;
  for (const Projection& p : ps) total += p.out;
  // Waking the second thread costs microseconds: only worth it for big W.
#pragma omp parallel for schedule(static) if ((int64_t)in * total >= (1 << 16))
  for (int r = 0; r < total; ++r) {
    int i = 0, row = r;
    while (row >= list[i].out) row -= list[i++].out;
    const Projection& p = list[i];
    p.y[row] = dot(p.W + (size_t)row * in, x, in) + (p.bias ? p.bias[row] : 0.0f);
  }
}

void rmsnorm(float* y, const float* x, const float* w, int n, int d, float eps) {
  for (int i = 0; i < n; ++i) {
    const float* xi = x + (size_t)i * d;
    float* yi = y + (size_t)i * d;
    float ss = 0.0f;
    for (int j = 0; j < d; ++j) ss += xi[j] * xi[j];
    ss /= d;
    ss += eps;
    ss = 1.0f / std::sqrt(ss);
    for (int j = 0; j < d; ++j) yi[j] = w[j] * (ss * xi[j]);
  }
}

void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps) {
  for (int i = 0; i < n; ++i) {
    const float* xi = x + (size_t)i * d;
    float* yi = y + (size_t)i * d;
    float mean = 0.0f;
    for (int j = 0; j < d; ++j) mean += xi[j];
    mean /= d;
    float var = 0.0f;
    for (int j = 0; j < d; ++j) var += (xi[j] - mean) * (xi[j] - mean);
    var /= d;
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int j = 0; j < d; ++j) yi[j] = (xi[j] - mean) * inv * w[j] + (b ? b[j] : 0.0f);
  }
}

void rope_inv_freq(float* inv_freq, int head_dim, float theta, float scale_factor,
                   float low_freq_factor, float high_freq_factor, int original_context) {
  for (int j = 0; j < head_dim / 2; ++j) {
    float f = 1.0f / std::pow(theta, (float)(2 * j) / (float)head_dim);
    if (scale_factor > 0.0f) {
      // Llama 3.1 "llama3" rope scaling (as in Meta's reference code).
      const float pi = 3.14159265358979f;
      const float wavelen = 2.0f * pi / f;
      const float low_wavelen = original_context / low_freq_factor;
      const float high_wavelen = original_context / high_freq_factor;
      if (wavelen > low_wavelen) {
        f = f / scale_factor;
      } else if (wavelen >= high_wavelen) {
        const float smooth = (original_context / wavelen - low_freq_factor) /
                             (high_freq_factor - low_freq_factor);
        f = (1.0f - smooth) * f / scale_factor + smooth * f;
      }
    }
    inv_freq[j] = f;
  }
}

void rope(float* x, const int32_t* pos, int n, int n_heads, int head_dim, const float* inv_freq,
          int style) {
  const int half = head_dim / 2;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < half; ++j) {
      const float a = pos[i] * inv_freq[j];
      const float c = std::cos(a), s = std::sin(a);
      for (int h = 0; h < n_heads; ++h) {
        float* xh = x + ((size_t)i * n_heads + h) * head_dim;
        const int i0 = style == 1 ? 2 * j : j;
        const int i1 = style == 1 ? 2 * j + 1 : j + half;
        const float v0 = xh[i0], v1 = xh[i1];
        xh[i0] = v0 * c - v1 * s;
        xh[i1] = v0 * s + v1 * c;
      }
    }
  }
}

void swiglu(float* out, const float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    out[i] = g * (1.0f / (1.0f + std::exp(-g))) * up[i];
  }
}

void gelu(float* x, int64_t count) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
  }
}

void softmax(float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

void add_rows(float* y, const float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

namespace {

// Partial attention for many queries: per head, S = Q·Kᵀ and O = P·V as two
// OpenBLAS GEMMs (strided views of the q/k/v rows, so GQA needs no copies).
// Masked pairs are computed and then discarded; at prefill sizes the GEMM's
// speed is worth more than the skipped half.
void attention_partial_gemm(float* out, float* lse, const float* q, const int32_t* q_pos, int nq,
                            const float* k, const float* v, const int32_t* k_pos, int nk, int n_heads,
                            int n_kv_heads, int head_dim) {
  const int q_stride = n_heads * head_dim, kv_stride = n_kv_heads * head_dim;
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt((float)head_dim);
  constexpr int kChunk = 128;  // queries per task: bounds the score buffer
  const int chunks = (nq + kChunk - 1) / kChunk;
  const int64_t tasks = (int64_t)chunks * n_heads;
  // One task = one head over one chunk of queries. Threads split the tasks;
  // OpenBLAS runs single-threaded inside a parallel region, so the small
  // GEMMs cost no thread synchronisation.
#pragma omp parallel if ((int64_t)nq * nk * n_heads * head_dim >= (1 << 18))
  {
    std::vector<float> S((size_t)std::min(nq, kChunk) * nk), inv_sum(kChunk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int t0 = (int)(task / n_heads) * kChunk, h = (int)(task % n_heads);
      const int m = std::min(kChunk, nq - t0);
      const int g = h / group;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nk, head_dim, scale,
                  q + (size_t)t0 * q_stride + (size_t)h * head_dim, q_stride, k + (size_t)g * head_dim,
                  kv_stride, 0.0f, S.data(), nk);
      for (int i = 0; i < m; ++i) {
        float* row = S.data() + (size_t)i * nk;
        const float mx = mask_future_and_max(row, k_pos, q_pos[t0 + i], nk);
        float* l = lse + (size_t)(t0 + i) * n_heads + h;
        if (mx == kNegInf) {  // no visible key: contributes nothing to the merge
          std::fill(row, row + nk, 0.0f);
          *l = kNegInf;
          inv_sum[i] = 0.0f;
          continue;
        }
        const float sum = exp_shift_sum(row, mx, nk);
        inv_sum[i] = 1.0f / sum;
        *l = mx + std::log(sum);
      }
      // O = P·V with unnormalised P, then each row scaled by 1/Σ.
      float* o = out + (size_t)t0 * q_stride + (size_t)h * head_dim;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, head_dim, nk, 1.0f, S.data(), nk,
                  v + (size_t)g * head_dim, kv_stride, 0.0f, o, q_stride);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < head_dim; ++j) o[(size_t)i * q_stride + j] *= inv_sum[i];
    }
  }
}

}  // namespace

void attention_partial(float* out, float* lse, const float* q, const int32_t* q_pos, int nq,
                       const float* k, const float* v, const int32_t* k_pos, int nk, int n_heads,
                       int n_kv_heads, int head_dim) {
  if (nq >= 16 && nk >= 16) {
    attention_partial_gemm(out, lse, q, q_pos, nq, k, v, k_pos, nk, n_heads, n_kv_heads, head_dim);
    return;
  }
  const int q_stride = n_heads * head_dim, kv_stride = n_kv_heads * head_dim;
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt((float)head_dim);
  const int64_t tasks = (int64_t)nq * n_heads;
  // Small problems (a decode step on a shard) are not worth waking a thread.
  const bool parallel = (int64_t)tasks * nk * head_dim >= (1 << 15);
#pragma omp parallel if (parallel)
  {
    std::vector<float> score(std::max(nk, 1));
    std::vector<int> idx(std::max(nk, 1));
#pragma omp for schedule(dynamic, 4)
    for (int64_t task = 0; task < tasks; ++task) {
      const int t = (int)(task / n_heads), h = (int)(task % n_heads);
      const int kvh = h / group;
      const float* qt = q + (size_t)t * q_stride + (size_t)h * head_dim;
      float* ot = out + (size_t)t * q_stride + (size_t)h * head_dim;
      int nv = 0;
      float m = kNegInf;
      for (int s = 0; s < nk; ++s) {
        if (k_pos[s] > q_pos[t]) continue;
        const float sc = dot(qt, k + (size_t)s * kv_stride + (size_t)kvh * head_dim, head_dim) * scale;
        score[nv] = sc;
        idx[nv++] = s;
        m = std::max(m, sc);
      }
      std::fill(ot, ot + head_dim, 0.0f);
      if (nv == 0) {
        lse[(size_t)t * n_heads + h] = kNegInf;
        continue;
      }
      float sum = 0.0f;
      for (int j = 0; j < nv; ++j) {
        score[j] = std::exp(score[j] - m);
        sum += score[j];
      }
      const float inv = 1.0f / sum;
      for (int j = 0; j < nv; ++j)
        axpy(ot, score[j] * inv, v + (size_t)idx[j] * kv_stride + (size_t)kvh * head_dim, head_dim);
      lse[(size_t)t * n_heads + h] = m + std::log(sum);
    }
  }
}

void attention_merge(float* out, const float* const* parts_out, const float* const* parts_lse,
                     int n_parts, int n, int n_heads, int head_dim) {
  const int stride = n_heads * head_dim;
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      float m = kNegInf;
      for (int b = 0; b < n_parts; ++b) m = std::max(m, parts_lse[b][(size_t)t * n_heads + h]);
      float* o = out + (size_t)t * stride + (size_t)h * head_dim;
      std::fill(o, o + head_dim, 0.0f);
      if (m == kNegInf) continue;
      float denom = 0.0f;
      for (int b = 0; b < n_parts; ++b) {
        const float l = parts_lse[b][(size_t)t * n_heads + h];
        if (l == kNegInf) continue;
        const float w = std::exp(l - m);
        denom += w;
        axpy(o, w, parts_out[b] + (size_t)t * stride + (size_t)h * head_dim, head_dim);
      }
      const float inv = 1.0f / denom;
      for (int j = 0; j < head_dim; ++j) o[j] *= inv;
    }
  }
}

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace cascade
