// What a forward pass costs, from the hyper-parameters alone: the FLOPs and
// bytes `cascade bench engine` divides its timings by.
#pragma once

#include "model/model.h"

namespace cascade {

// FLOPs of the matrix products of one token through every block (2 per
// weight: a multiply and an add).
inline double block_flops_per_token(const ModelConfig& c) {
  const double d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  const double mlp = (c.arch == Arch::kLlama ? 3 : 2) * d * h;
  return 2.0 * c.n_layers * (d * q + 2 * d * kv + q * d + mlp);
}

// Attention FLOPs of positions [p0, p1), every block (QK and PV).
inline double attention_flops(const ModelConfig& c, int p0, int p1) {
  double f = 0;
  for (int t = p0; t < p1; ++t) f += 4.0 * (t + 1) * c.q_dim();
  return f * c.n_layers;
}

// FLOPs of the LM head for one token.
inline double head_flops(const ModelConfig& c) { return 2.0 * c.dim * c.vocab_size; }

// Bytes one decode step streams from memory: every fp32 weight once (the
// embedding row aside; the head counted once), and the KV cache of
// `cached` positions.
inline double decode_bytes(const ModelConfig& c, double cached) {
  const double weights = 4.0 * (block_flops_per_token(c) / 2 + (double)c.vocab_size * c.dim);
  const double kv = 4.0 * 2 * c.kv_dim() * c.n_layers * cached;
  return weights + kv;
}

}  // namespace cascade
