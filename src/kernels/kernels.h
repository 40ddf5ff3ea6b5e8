// Transformer kernels, fp32, row-major. The only place layer math lives.
//
// Shapes are written [rows][cols]. A "row" is one token position. Every
// kernel works on any set of rows: callers pass rows in any order together
// with their absolute positions, which is what lets CompNodes and AttnNodes
// run exactly these functions on the shard of rows they own.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace cascade {

// Weights packed for the prefill GEMM: W[out][in] cut into panels of
// kPanel consecutive outputs, each panel stored [in][kPanel] (one panel row
// per input index), panels one after another: out·in floats, out % kPanel
// == 0. Packed once at load (Model::pack_weights), so no GEMM repacks W on
// every call as OpenBLAS does — which costs most when a CompNode has few rows.
constexpr int kPanel = 32;
void pack_panels(float* panels, const float* W, int out, int in);

// y[n][out] = x[n][in] · W[out][in]^T (+ bias[out] if not null).
// n == 1: a bandwidth-bound two-thread GEMV over W. n > 1: our GEMM over
// `panels` (W packed by pack_panels) when given; else up to 8 rows the
// GEMV's dot products (W read once; each row as it would be alone), and
// OpenBLAS sgemm on W beyond.
// The panel GEMM sums each output in the same order for any n, so a row's
// result does not depend on which other rows share the call.
void matmul(float* y, const float* x, const float* W, const float* bias, int n, int in, int out,
            const float* panels = nullptr);

// One projection of matmul_many: y[n][out] = x · W[out][in]^T (+ bias).
struct Projection {
  float* y;
  const float* W;
  const float* bias;
  int out;
  const float* panels = nullptr;  // W packed, or null
};

// Several projections of the same rows (Q, K, V; or gate, up). The result is
// that of calling matmul for each; for one row (decode) all the weights are
// streamed in a single parallel pass instead of one pass per matrix.
void matmul_many(const float* x, int n, int in, std::initializer_list<Projection> ps);

// RMSNorm per row: y = x / sqrt(mean(x²) + eps) * w. y may alias x.
void rmsnorm(float* y, const float* x, const float* w, int n, int d, float eps);

// LayerNorm per row: y = (x - mean) / sqrt(var + eps) * w + b. y may alias x.
void layernorm(float* y, const float* x, const float* w, const float* b, int n, int d, float eps);

// Rotary embedding, in place, on n rows of n_heads × head_dim values.
// pos[i] is the absolute position of row i. `inv_freq` has head_dim/2
// entries (see rope_inv_freq). style: 1 = adjacent pairs (2j, 2j+1),
// 2 = NeoX halves (j, j + head_dim/2); the values of RopeStyle.
void rope(float* x, const int32_t* pos, int n, int n_heads, int head_dim, const float* inv_freq,
          int style);

// inv_freq[j] = theta^(-2j/head_dim), with Llama-3 frequency scaling applied
// when scale_factor > 0 (low/high frequency factors, original context).
void rope_inv_freq(float* inv_freq, int head_dim, float theta, float scale_factor,
                   float low_freq_factor, float high_freq_factor, int original_context);

// out = silu(gate) ⊙ up, elementwise over `count` values. out may alias gate.
void swiglu(float* out, const float* gate, const float* up, int64_t count);

// GELU (tanh approximation, as GPT-2 and ggml use), in place.
void gelu(float* x, int64_t count);

// Softmax over one vector of length n, in place.
void softmax(float* x, int n);

// y[n][d] += x[n][d].
void add_rows(float* y, const float* x, int64_t count);

// Partial attention of a set of query rows over a set of key/value rows.
//
//   q   [nq][n_heads·hd]     at absolute positions q_pos[nq]
//   k,v [nk][n_kv_heads·hd]  at absolute positions k_pos[nk]
//
// Causal: query t sees key s iff k_pos[s] <= q_pos[t]. Query head h reads kv
// head h / (n_heads / n_kv_heads) (GQA). Writes, per query and head,
//   out[t][h·hd..]  = Σ_s softmax_s(q·k_s / √hd) · v_s   over visible s
//   lse[t][h]       = log Σ_s exp(q·k_s / √hd)           over visible s
// A query with no visible key gets out = 0 and lse = -inf, which the merge
// below treats as "contributes nothing". Keys may come in any order.
void attention_partial(float* out, float* lse, const float* q, const int32_t* q_pos, int nq,
                       const float* k, const float* v, const int32_t* k_pos, int nk, int n_heads,
                       int n_kv_heads, int head_dim);

// Exact merge of partial attentions over disjoint key sets:
//   m = max_b lse_b;  out = Σ_b e^(lse_b − m)·out_b / Σ_b e^(lse_b − m).
// parts_out[b] is [n][n_heads·hd], parts_lse[b] is [n][n_heads]. Parts whose
// lse is -inf are skipped (no NaN); if all are -inf the output is 0.
void attention_merge(float* out, const float* const* parts_out, const float* const* parts_lse,
                     int n_parts, int n, int n_heads, int head_dim);

// Index of the largest value; the first one on ties (as llama2.c).
int argmax(const float* x, int n);

}  // namespace cascade
