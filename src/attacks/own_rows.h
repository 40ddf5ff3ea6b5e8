// The attention output a CompNode's own rows imply.
//
// A CompNode runs the per-token work of its rows at every block: it holds
// the residual h before the block and h_mid after the attention output is
// added, h_mid − h = W_o·o_t + b_o. When W_o has full column rank (every
// model we load: q_dim ≤ dim), o_t is a function of its rows, whatever
// protocol delivered it. OutputFromRows solves for it (least squares, in
// double), so an attack can use o_t as "what its own rows say" — the
// honest row-only view, to compare a protocol's messages against.
#pragma once

#include <vector>

#include "attacks/observations.h"
#include "model/model.h"

namespace cascade::attacks {

class OutputFromRows {
 public:
  // Reads every block's W_o and b_o through the engine's own block_attn_out
  // (so any weight type works). Throws Error when a W_o does not have full
  // column rank, naming the block.
  explicit OutputFromRows(const Model& m);

  // o[q_dim] with W_o·o + b_o = h_mid − h_in, for one row of block `layer`.
  void solve(int layer, const float* h_in, const float* h_mid, float* o) const;

 private:
  struct Block {
    std::vector<double> w;     // [dim][q_dim] W_o
    std::vector<double> bias;  // [dim] b_o (zeros without one)
    std::vector<double> chol;  // [q_dim][q_dim] lower Cholesky factor of W_oᵀW_o
  };
  int dim_ = 0, q_dim_ = 0;
  std::vector<Block> blocks_;
};

// A normalized observation (the private protocol's merged output: o_t over
// every key s ≤ t, no log-sum-exp) for row t of block `layer`: its reference
// scale per head is the row's own score q_t·k_t/√hd (AttnObservation).
// q: [q_dim], k: [kv_dim] of the row itself, o: [q_dim].
AttnObservation normalized_observation(const ModelConfig& c, int layer, int t, const float* q, const float* k,
                                       const float* o);

}  // namespace cascade::attacks
