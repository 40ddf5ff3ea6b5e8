// The protocol's traffic for one generated token, from its message shapes:
// what `cascade bench cascade` and `bench remote` compare measured bytes with.
#pragma once

#include "model/model.h"
#include "plan/plan.h"

namespace cascade {

// Floats per block for one decode step (a position that a CompNode owns).
//   paper:   out of the CompNode β(d + 2·d_kv) (+ d to the client), back
//            β(d + H) (+ d + H from the client);
//   private: rows one coordinate wider per head (w = hd + 1): out
//            β(H·w + 2·KV·w) (+ d to the client), back one merged
//            H·w + H; between AttnNodes (β−1)(H·w + H) to the merger; from
//            the client to the merger H·w + H.
struct DecodeTraffic {
  double comp_out = 0;      // out of the owning CompNode
  double comp_in = 0;       // into it: partials (paper) or the merged output (private)
  double attn_to_attn = 0;  // partials to the merger (private)
  double client_to_attn = 0;  // the client's head partial to the merger (private)
  double total() const { return comp_out + comp_in + attn_to_attn + client_to_attn; }
};

inline DecodeTraffic decode_traffic(const Plan& plan, const ModelConfig& c) {
  const double beta = plan.beta(), head = plan.head() > 0 ? 1 : 0, H = c.n_heads, KV = c.n_kv_heads;
  DecodeTraffic t;
  if (!plan.is_private()) {
    t.comp_out = beta * (c.dim + 2.0 * c.kv_dim()) + head * c.dim;
    t.comp_in = (beta + head) * (c.dim + H);
    return t;
  }
  const double w = c.head_dim + 1;
  t.comp_out = beta * (H * w + 2.0 * KV * w) + head * c.dim;
  t.comp_in = H * w + H;
  t.attn_to_attn = (beta - 1) * (H * w + H);
  t.client_to_attn = head * (H * w + H);
  return t;
}

// Floats of one generated token over every link: decode_traffic for each
// block from F on, plus the client's h^F row to its CompNode and the final
// row back.
inline double decode_token_floats(const Plan& plan, const ModelConfig& c) {
  return (c.n_layers - plan.front_layers()) * decode_traffic(plan, c).total() + 2.0 * c.dim;
}

}  // namespace cascade
