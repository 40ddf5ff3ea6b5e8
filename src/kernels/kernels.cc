#include "kernels/kernels.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ops.h"

namespace cascade {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kFewRows = 8;  // matmul without panels: up to this many rows take the GEMV's dots

}  // namespace

void pack_panels(float* panels, const float* W, int out, int in) {
  for (int p = 0; p < out / kPanel; ++p)
    for (int k = 0; k < in; ++k)
      for (int j = 0; j < kPanel; ++j)
        panels[((size_t)p * in + k) * kPanel + j] = W[(size_t)(p * kPanel + j) * in + k];
}

namespace {

// y[n][out] = x[n][in] · W^T from W's panels, one panel per task; the
// active ISA's kernel does each panel's rows (ops.h).
void gemm_panels(float* y, const float* x, const float* panels, int n, int in, int out) {
  const auto gemm_panel = ops::active().gemm_panel;
  const int n_panels = out / kPanel;
#pragma omp parallel for schedule(dynamic, 1) if (!omp_in_parallel() && (int64_t)n * in * out >= (1 << 20))
  for (int p = 0; p < n_panels; ++p)
    gemm_panel(y + (size_t)p * kPanel, out, x, in, panels + (size_t)p * in * kPanel, n, in);
}

}  // namespace

void matmul(float* y, const float* x, const float* W, const float* bias, int n, int in, int out,
            const float* panels) {
  if (n == 1) {  // decode: the bandwidth-bound GEMV of matmul_many
    matmul_many(x, 1, in, {{y, W, bias, out}});
    return;
  }
  if (n <= 0) return;
  if (panels) {
    gemm_panels(y, x, panels, n, in, out);
  } else if (n <= kFewRows) {
    // A few rows (a batch of decode steps through an unpacked W, such as
    // the LM head): stream W once, each row of it dotted with every x row —
    // the GEMV's dot, so each row gets the bits it gets alone. OpenBLAS
    // would repack all of W for a handful of rows.
    const auto dot = ops::active().dot;
#pragma omp parallel for schedule(static) if ((int64_t)in * out >= (1 << 16))
    for (int r = 0; r < out; ++r) {
      if (r + 1 < out)  // the next row, while this one is dotted n times
        for (int j = 0; j < in; j += 16) __builtin_prefetch(W + (size_t)(r + 1) * in + j);
      for (int i = 0; i < n; ++i) y[(size_t)i * out + r] = dot(W + (size_t)r * in, x + (size_t)i * in, in);
    }
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
  }
  if (bias)
    for (int i = 0; i < n; ++i) add_rows(y + (size_t)i * out, bias, out);
}

void matmul_many(const float* x, int n, int in, std::initializer_list<Projection> ps) {
  if (n != 1) {
    for (const Projection& p : ps) matmul(p.y, x, p.W, p.bias, n, in, p.out, p.panels);
    return;
  }
  const Projection* list = ps.begin();
  const auto dot = ops::active().dot;
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
  const auto row = ops::active().rmsnorm_row;
  for (int i = 0; i < n; ++i) row(y + (size_t)i * d, x + (size_t)i * d, w, d, eps);
}

void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps) {
  const auto row = ops::active().layernorm_row;
  for (int i = 0; i < n; ++i) row(y + (size_t)i * d, x + (size_t)i * d, w, b, d, eps);
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
  const auto row = ops::active().rope_row;
  for (int i = 0; i < n; ++i) row(x + (size_t)i * n_heads * head_dim, pos[i], n_heads, head_dim, inv_freq, style);
}

void swiglu(float* out, const float* gate, const float* up, int64_t count) {
  ops::active().swiglu(out, gate, up, count);
}

void gelu(float* x, int64_t count) { ops::active().gelu(x, count); }

void softmax(float* x, int n) { ops::active().softmax(x, n); }

void add_rows(float* y, const float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

namespace {

// Partial attention for many queries: per head, S = Q·Kᵀ and O = P·V as two
// OpenBLAS GEMMs (strided views of the q/k/v rows, so GQA needs no copies).
// Masked pairs are computed and then discarded; at prefill sizes the GEMM's
// speed is worth more than the skipped half. When the keys come in
// ascending position order (the plaintext engine's cache, a prefill), a
// chunk of queries only multiplies the keys up to its last query's position:
// the keys after it are all masked.
void attention_partial_gemm(float* out, float* lse, const float* q, const int32_t* q_pos, int nq,
                            const float* k, const float* v, const int32_t* k_pos, int nk, int n_heads,
                            int n_kv_heads, int head_dim) {
  const int q_stride = n_heads * head_dim, kv_stride = n_kv_heads * head_dim;
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt((float)head_dim);
  constexpr int kChunk = 64;  // queries per task: bounds the score buffer
  const int chunks = (nq + kChunk - 1) / kChunk;
  const int64_t tasks = (int64_t)chunks * n_heads;
  const ops::KernelOps& k_ops = ops::active();
  // Keys each chunk multiplies: those at positions ≤ its last query's.
  std::vector<int> chunk_keys(chunks, nk);
  if (std::is_sorted(k_pos, k_pos + nk))
    for (int c = 0; c < chunks; ++c) {
      const int32_t last = *std::max_element(q_pos + c * kChunk, q_pos + std::min(nq, (c + 1) * kChunk));
      chunk_keys[c] = (int)(std::upper_bound(k_pos, k_pos + nk, last) - k_pos);
    }
  // One task = one head over one chunk of queries. Threads split the tasks;
  // OpenBLAS runs single-threaded inside a parallel region, so the small
  // GEMMs cost no thread synchronisation.
#pragma omp parallel if ((int64_t)nq * nk * n_heads * head_dim >= (1 << 18))
  {
    std::vector<float> S((size_t)std::min(nq, kChunk) * nk), inv_sum(kChunk);
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int c = (int)(task / n_heads), t0 = c * kChunk, h = (int)(task % n_heads);
      const int m = std::min(kChunk, nq - t0), nkc = chunk_keys[c];
      const int g = h / group;
      float* o = out + (size_t)t0 * q_stride + (size_t)h * head_dim;
      if (nkc == 0) {  // no query of the chunk sees a key
        for (int i = 0; i < m; ++i) {
          std::fill(o + (size_t)i * q_stride, o + (size_t)i * q_stride + head_dim, 0.0f);
          lse[(size_t)(t0 + i) * n_heads + h] = kNegInf;
        }
        continue;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nkc, head_dim, scale,
                  q + (size_t)t0 * q_stride + (size_t)h * head_dim, q_stride, k + (size_t)g * head_dim,
                  kv_stride, 0.0f, S.data(), nkc);
      for (int i = 0; i < m; ++i) {
        float* row = S.data() + (size_t)i * nkc;
        const float mx = k_ops.mask_future_and_max(row, k_pos, q_pos[t0 + i], nkc);
        float* l = lse + (size_t)(t0 + i) * n_heads + h;
        if (mx == kNegInf) {  // no visible key: contributes nothing to the merge
          std::fill(row, row + nkc, 0.0f);
          *l = kNegInf;
          inv_sum[i] = 0.0f;
          continue;
        }
        const float sum = k_ops.exp_shift_sum(row, mx, nkc);
        inv_sum[i] = 1.0f / sum;
        *l = mx + std::log(sum);
      }
      // O = P·V with unnormalised P, then each row scaled by 1/Σ.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, head_dim, nkc, 1.0f, S.data(), nkc,
                  v + (size_t)g * head_dim, kv_stride, 0.0f, o, q_stride);
      for (int i = 0; i < m; ++i) k_ops.scale(o + (size_t)i * q_stride, inv_sum[i], head_dim);
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
  const ops::KernelOps& k_ops = ops::active();
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
        const float sc = k_ops.dot(qt, k + (size_t)s * kv_stride + (size_t)kvh * head_dim, head_dim) * scale;
        score[nv] = sc;
        idx[nv++] = s;
        m = std::max(m, sc);
      }
      std::fill(ot, ot + head_dim, 0.0f);
      if (nv == 0) {
        lse[(size_t)t * n_heads + h] = kNegInf;
        continue;
      }
      const float sum = k_ops.exp_shift_sum(score.data(), m, nv);
      const float inv = 1.0f / sum;
      for (int j = 0; j < nv; ++j)
        k_ops.axpy(ot, score[j] * inv, v + (size_t)idx[j] * kv_stride + (size_t)kvh * head_dim, head_dim);
      lse[(size_t)t * n_heads + h] = m + std::log(sum);
    }
  }
}

void attention_merge(float* out, const float* const* parts_out, const float* const* parts_lse,
                     int n_parts, int n, int n_heads, int head_dim) {
  const int stride = n_heads * head_dim;
  const ops::KernelOps& k_ops = ops::active();
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
        k_ops.axpy(o, w, parts_out[b] + (size_t)t * stride + (size_t)h * head_dim, head_dim);
      }
      k_ops.scale(o, 1.0f / denom, head_dim);
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
