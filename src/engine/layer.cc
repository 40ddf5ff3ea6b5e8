#include "engine/layer.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/quant_matmul.h"
#include "kernels/kernels.h"
#include "util/error.h"

namespace cascade {

void RowScratch::ensure(const ModelConfig& c, int n) {
  const size_t wide = (size_t)n * std::max(c.dim, c.q_dim());
  if (xb.size() < wide) xb.resize(wide);
  if (xb2.size() < wide) xb2.resize(wide);
  if (hb.size() < (size_t)n * c.hidden_dim) hb.resize((size_t)n * c.hidden_dim);
  if (hb2.size() < (size_t)n * c.hidden_dim) hb2.resize((size_t)n * c.hidden_dim);
  if (inv_freq.empty() && c.rope_style != RopeStyle::kNone) {
    inv_freq.resize(c.head_dim / 2);
    rope_inv_freq(inv_freq.data(), c.head_dim, c.rope_theta, c.rope_scale_factor,
                  c.rope_low_freq_factor, c.rope_high_freq_factor, c.rope_original_context);
  }
}

namespace {

void norm_rows(const Model& m, float* y, const float* x, const float* w, const float* b, int n) {
  if (m.cfg.arch == Arch::kGPT2)
    layernorm(y, x, w, b, n, m.cfg.dim, m.cfg.norm_eps);
  else
    rmsnorm(y, x, w, n, m.cfg.dim, m.cfg.norm_eps);
}

// y[n][out] = x · W^T (+ bias) for a matrix held in fp32 (W) or quantized (Wq).
void project(float* y, const float* x, const float* W, const QuantMatrix& Wq, const float* bias, int n, int in,
             int out, const float* panels) {
  if (W) matmul(y, x, W, bias, n, in, out, panels);
  else quant_matmul(y, x, Wq, bias, n, in, out);
}

}  // namespace

void embed_rows(const Model& m, const int32_t* tokens, const int32_t* pos, int n, float* h) {
  const int d = m.cfg.dim;
  // Token ids index the embedding table: the one place every caller (engine,
  // client, attacks) goes through, so the bounds are checked here.
  for (int i = 0; i < n; ++i) {
    check(tokens[i] >= 0 && tokens[i] < m.cfg.vocab_size,
          "token id " + std::to_string(tokens[i]) + " is outside the vocabulary");
    check(pos[i] >= 0 && pos[i] < m.cfg.context_length,
          "position " + std::to_string(pos[i]) + " is outside the model's context");
  }
  for (int i = 0; i < n; ++i) {
    if (m.token_embd) std::memcpy(h + (size_t)i * d, m.token_embd + (size_t)tokens[i] * d, d * sizeof(float));
    else quant_row(m.token_embd_q, tokens[i], d, h + (size_t)i * d);
    if (m.pos_embd) add_rows(h + (size_t)i * d, m.pos_embd + (size_t)pos[i] * d, d);
  }
}

void block_qkv(const Model& m, int layer, const float* h, const int32_t* pos, int n, float* q,
               float* k, float* v, RowScratch& s) {
  const auto& c = m.cfg;
  const auto& w = m.layers[layer];
  s.ensure(c, n);
  norm_rows(m, s.xb.data(), h, w.attn_norm, w.attn_norm_b, n);
  if (w.wq && w.wk && w.wv) {
    matmul_many(s.xb.data(), n, c.dim,
                {{q, w.wq, w.bq, c.q_dim(), w.wq_panels},
                 {k, w.wk, w.bk, c.kv_dim(), w.wk_panels},
                 {v, w.wv, w.bv, c.kv_dim(), w.wv_panels}});
  } else {
    project(q, s.xb.data(), w.wq, w.wq_q, w.bq, n, c.dim, c.q_dim(), w.wq_panels);
    project(k, s.xb.data(), w.wk, w.wk_q, w.bk, n, c.dim, c.kv_dim(), w.wk_panels);
    project(v, s.xb.data(), w.wv, w.wv_q, w.bv, n, c.dim, c.kv_dim(), w.wv_panels);
  }
  if (c.rope_style != RopeStyle::kNone) {
    rope(q, pos, n, c.n_heads, c.head_dim, s.inv_freq.data(), (int)c.rope_style);
    rope(k, pos, n, c.n_kv_heads, c.head_dim, s.inv_freq.data(), (int)c.rope_style);
  }
}

void block_finish(const Model& m, int layer, float* h, const float* o, int n, RowScratch& s) {
  block_attn_out(m, layer, h, o, n, s);
  block_ffn(m, layer, h, n, s);
}

void block_attn_out(const Model& m, int layer, float* h, const float* o, int n, RowScratch& s) {
  const auto& c = m.cfg;
  const auto& w = m.layers[layer];
  s.ensure(c, n);
  project(s.xb2.data(), o, w.wo, w.wo_q, w.bo, n, c.q_dim(), c.dim, w.wo_panels);
  add_rows(h, s.xb2.data(), (int64_t)n * c.dim);
}

void block_ffn(const Model& m, int layer, float* h, int n, RowScratch& s) {
  const auto& c = m.cfg;
  const auto& w = m.layers[layer];
  s.ensure(c, n);
  const int64_t rows_d = (int64_t)n * c.dim, rows_h = (int64_t)n * c.hidden_dim;
  norm_rows(m, s.xb.data(), h, w.ffn_norm, w.ffn_norm_b, n);
  if (c.arch == Arch::kGPT2) {
    project(s.hb.data(), s.xb.data(), w.w_up, w.w_up_q, w.b_up, n, c.dim, c.hidden_dim, w.w_up_panels);
    gelu(s.hb.data(), rows_h);
  } else {
    if (w.w_gate && w.w_up) {
      matmul_many(s.xb.data(), n, c.dim,
                  {{s.hb.data(), w.w_gate, nullptr, c.hidden_dim, w.w_gate_panels},
                   {s.hb2.data(), w.w_up, w.b_up, c.hidden_dim, w.w_up_panels}});
    } else {
      project(s.hb.data(), s.xb.data(), w.w_gate, w.w_gate_q, nullptr, n, c.dim, c.hidden_dim, w.w_gate_panels);
      project(s.hb2.data(), s.xb.data(), w.w_up, w.w_up_q, w.b_up, n, c.dim, c.hidden_dim, w.w_up_panels);
    }
    swiglu(s.hb.data(), s.hb.data(), s.hb2.data(), rows_h);
  }
  project(s.xb2.data(), s.hb.data(), w.w_down, w.w_down_q, w.b_down, n, c.hidden_dim, c.dim, w.w_down_panels);
  add_rows(h, s.xb2.data(), rows_d);
}

void final_logits(const Model& m, const float* h, int n, float* logits, RowScratch& s) {
  s.ensure(m.cfg, n);
  norm_rows(m, s.xb.data(), h, m.out_norm, m.out_norm_b, n);
  project(logits, s.xb.data(), m.lm_head, m.lm_head_q, nullptr, n, m.cfg.dim, m.cfg.vocab_size, nullptr);
}

}  // namespace cascade
