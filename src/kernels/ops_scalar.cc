// Plain C++ kernels: the reference every SIMD path is tested against, and
// the path a CPU without AVX2 + FMA runs.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/ops.h"

namespace cascade::ops {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void gemm_panel(float* y, int ldy, const float* x, int ldx, const float* panel, int n, int in) {
  for (int i = 0; i < n; ++i) {
    float acc[kPanel] = {};
    const float* xi = x + (size_t)i * ldx;
    for (int k = 0; k < in; ++k) {
      const float* p = panel + (size_t)k * kPanel;
      for (int j = 0; j < kPanel; ++j) acc[j] += xi[k] * p[j];
    }
    for (int j = 0; j < kPanel; ++j) y[(size_t)i * ldy + j] = acc[j];
  }
}

float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float* y, float a, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale(float* y, float a, int n) {
  for (int i = 0; i < n; ++i) y[i] *= a;
}

float mask_future_and_max(float* row, const int32_t* k_pos, int32_t qp, int n) {
  float mx = kNegInf;
  for (int s = 0; s < n; ++s) {
    if (k_pos[s] > qp) row[s] = kNegInf;
    mx = std::max(mx, row[s]);
  }
  return mx;
}

float exp_shift_sum(float* row, float mx, int n) {
  float sum = 0.0f;
  for (int s = 0; s < n; ++s) {
    row[s] = std::exp(row[s] - mx);
    sum += row[s];
  }
  return sum;
}

void softmax(float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  const float sum = exp_shift_sum(x, m, n);
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

void rmsnorm_row(float* y, const float* x, const float* w, int d, float eps) {
  float ss = 0.0f;
  for (int j = 0; j < d; ++j) ss += x[j] * x[j];
  ss /= d;
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int j = 0; j < d; ++j) y[j] = w[j] * (ss * x[j]);
}

void layernorm_row(float* y, const float* x, const float* w, const float* b, int d, float eps) {
  float mean = 0.0f;
  for (int j = 0; j < d; ++j) mean += x[j];
  mean /= d;
  float var = 0.0f;
  for (int j = 0; j < d; ++j) var += (x[j] - mean) * (x[j] - mean);
  var /= d;
  const float inv = 1.0f / std::sqrt(var + eps);
  for (int j = 0; j < d; ++j) y[j] = (x[j] - mean) * inv * w[j] + (b ? b[j] : 0.0f);
}

void rope_row(float* x, int32_t pos, int n_heads, int head_dim, const float* inv_freq, int style) {
  const int half = head_dim / 2;
  for (int j = 0; j < half; ++j) {
    const float a = pos * inv_freq[j];
    const float c = std::cos(a), s = std::sin(a);
    const int i0 = style == 1 ? 2 * j : j;
    const int i1 = style == 1 ? 2 * j + 1 : j + half;
    for (int h = 0; h < n_heads; ++h) {
      float* xh = x + (size_t)h * head_dim;
      const float v0 = xh[i0], v1 = xh[i1];
      xh[i0] = v0 * c - v1 * s;
      xh[i1] = v0 * s + v1 * c;
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

}  // namespace

const KernelOps& scalar_ops() {
  static const KernelOps t{"scalar",  gemm_panel,  dot,         axpy,     scale, mask_future_and_max, exp_shift_sum,
                           softmax,   rmsnorm_row, layernorm_row, rope_row, swiglu, gelu};
  return t;
}

}  // namespace cascade::ops
