// What an attacker holds: the attention results and the rows a role learned,
// independent of the messages that carried them (converters: recorded_views.h).
#pragma once

#include <vector>

namespace cascade::attacks {

struct AttnObservation {     // one attention result a CompNode learns for one of its own rows
  int layer = 0;             // block
  int query_pos = 0;         // the own row t
  std::vector<int> key_pos;  // exactly which key positions this result covers (ascending)
  std::vector<float> q;      // [n_heads][head_dim] the node's own q_t (after RoPE)
  std::vector<float> out;    // [n_heads][head_dim] softmax-weighted sum of v over key_pos
  std::vector<float> lse;    // [n_heads] log-sum-exp of q·k/√hd over key_pos
  bool normalized = false;   // only the softmax average is known (the private protocol's merged
                             // output): lse then holds a reference score per head (the row's
                             // own q_t·k_t/√hd) that scales the weights, and the attack tests
                             // Σ_s e^{q·k_s/√hd − lse}·(v_s − out) = 0
};

struct RowObservation {  // one row of one position a role received or computed
  int pos = 0;
  int layer = 0;         // block
  char kind = 'h';       // 'h': residual input of block `layer` (layer L: the last output);
                         // 'q', 'k', 'v': that block's rows (after RoPE)
  std::vector<float> x;  // dim, q_dim or kv_dim floats
};

// Everything one role (or a coalition, by concatenation) learned in a session.
struct ReceivedView {
  std::vector<AttnObservation> attn;
  std::vector<RowObservation> rows;
};

}  // namespace cascade::attacks
