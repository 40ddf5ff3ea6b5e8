#include "attacks/own_rows.h"

#include <cmath>
#include <string>

#include "engine/layer.h"
#include "util/error.h"

namespace cascade::attacks {

OutputFromRows::OutputFromRows(const Model& m) : dim_(m.cfg.dim), q_dim_(m.cfg.q_dim()) {
  const int d = dim_, qd = q_dim_;
  // Row j of o = e_j (j < qd), and a last row o = 0: block_attn_out on h = 0
  // gives W_o's column j plus b_o, and b_o.
  std::vector<float> o((size_t)(qd + 1) * qd, 0.0f);
  for (int j = 0; j < qd; ++j) o[(size_t)j * qd + j] = 1.0f;
  RowScratch s;
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    std::vector<float> h((size_t)(qd + 1) * d, 0.0f);
    block_attn_out(m, l, h.data(), o.data(), qd + 1, s);
    Block b;
    b.bias.assign(h.begin() + (size_t)qd * d, h.end());
    b.w.resize((size_t)d * qd);
    for (int j = 0; j < qd; ++j)
      for (int i = 0; i < d; ++i) b.w[(size_t)i * qd + j] = (double)h[(size_t)j * d + i] - b.bias[i];
    // Cholesky of W_oᵀW_o.
    b.chol.assign((size_t)qd * qd, 0.0);
    std::vector<double> g((size_t)qd * qd, 0.0);
    for (int i = 0; i < d; ++i)
      for (int a = 0; a < qd; ++a) {
        const double wa = b.w[(size_t)i * qd + a];
        for (int c = 0; c <= a; ++c) g[(size_t)a * qd + c] += wa * b.w[(size_t)i * qd + c];
      }
    for (int a = 0; a < qd; ++a) {
      for (int c = 0; c <= a; ++c) {
        double sum = g[(size_t)a * qd + c];
        for (int k = 0; k < c; ++k) sum -= b.chol[(size_t)a * qd + k] * b.chol[(size_t)c * qd + k];
        if (a == c) {
          check(sum > 1e-12 * (1.0 + std::fabs(g[(size_t)a * qd + a])),
                "OutputFromRows: W_o of block " + std::to_string(l) +
                    " is rank deficient; its rows do not determine the attention output");
          b.chol[(size_t)a * qd + a] = std::sqrt(sum);
        } else {
          b.chol[(size_t)a * qd + c] = sum / b.chol[(size_t)c * qd + c];
        }
      }
    }
    blocks_.push_back(std::move(b));
  }
}

void OutputFromRows::solve(int layer, const float* h_in, const float* h_mid, float* o) const {
  check(layer >= 0 && layer < (int)blocks_.size(), "OutputFromRows: no block " + std::to_string(layer));
  const Block& b = blocks_[layer];
  const int d = dim_, qd = q_dim_;
  std::vector<double> y(qd, 0.0);  // W_oᵀ(h_mid − h_in − b_o)
  for (int i = 0; i < d; ++i) {
    const double r = (double)h_mid[i] - h_in[i] - b.bias[i];
    for (int j = 0; j < qd; ++j) y[j] += b.w[(size_t)i * qd + j] * r;
  }
  for (int a = 0; a < qd; ++a) {  // L z = y
    double sum = y[a];
    for (int k = 0; k < a; ++k) sum -= b.chol[(size_t)a * qd + k] * y[k];
    y[a] = sum / b.chol[(size_t)a * qd + a];
  }
  for (int a = qd - 1; a >= 0; --a) {  // Lᵀ x = z
    double sum = y[a];
    for (int k = a + 1; k < qd; ++k) sum -= b.chol[(size_t)k * qd + a] * y[k];
    y[a] = sum / b.chol[(size_t)a * qd + a];
  }
  for (int j = 0; j < qd; ++j) o[j] = (float)y[j];
}

AttnObservation normalized_observation(const ModelConfig& c, int layer, int t, const float* q, const float* k,
                                       const float* o) {
  const int qd = c.q_dim(), H = c.n_heads, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  AttnObservation ob;
  ob.layer = layer;
  ob.query_pos = t;
  ob.normalized = true;
  for (int s = 0; s <= t; ++s) ob.key_pos.push_back(s);
  ob.q.assign(q, q + qd);
  ob.out.assign(o, o + qd);
  ob.lse.resize(H);
  for (int h = 0; h < H; ++h) {
    const float* qh = q + (size_t)h * hd;
    const float* kh = k + (size_t)(h / group) * hd;
    double dot = 0;
    for (int j = 0; j < hd; ++j) dot += (double)qh[j] * kh[j];
    ob.lse[h] = (float)(dot / std::sqrt((double)hd));
  }
  return ob;
}

}  // namespace cascade::attacks
