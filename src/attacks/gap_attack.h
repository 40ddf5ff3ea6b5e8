// Vocab matching generalised to a sharded view (protocol §2, "Generalised to
// sharded views").
//
// A node sees the layer-ℓ rows of some positions i_1 < i_2 < ... (with their
// positions: Cascade nodes need them for RoPE and the causal mask) and knows
// the tokens of a public set (BOS, a system prompt). Positions are resolved
// left to right. For the next seen position s, the unknown positions between
// the last resolved position p and s form the gap (g of them; known
// positions inside it are filled with their known tokens). The attack
// enumerates fillings of the gap depth-first, each gap position's candidates
// in model-probability order (or token-id order), and at each complete
// filling evaluates all candidates for s as one batch (CandidateRows) against
// the observed row. The first candidate under ε stops the search (unless
// exhaustive); otherwise the nearest seen filling wins. The filling and the
// token at s are then taken as recovered: the row at s pins down the gap too.
// Positions after the last seen one are unconstrained and stay unknown (-1).
//
// Cost, per seen position (what the measurement counts):
//   candidates_tried  candidate rows at s a one-at-a-time attacker evaluates,
//                     up to and including the accepted one: a full search is
//                     V^(g+1) (V = size of the candidate vocabulary).
//   rows_computed     candidate rows actually computed (whole batches).
//   gap_steps         single-token engine steps spent filling the gap
//                     (Σ_{j=1..g} V^j for a full search).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

struct GapAttackOptions {
  int layer = 1;
  float epsilon = 0;
  int64_t budget = 0;        // max candidates_tried per seen position; 0 = unlimited
  bool model_order = true;   // false: token-id order
  bool exhaustive = false;   // true: never stop early (measures the full V^(g+1))
  int batch = 64;
  // Candidate tokens for every unknown position; empty = the whole vocabulary.
  // A smaller set simulates a small vocabulary (it must contain the truth for
  // the attack to be able to succeed).
  std::vector<int32_t> vocabulary;
};

struct GapStep {
  int position = 0;          // the seen position s
  int gap = 0;               // unknown positions filled before it
  int64_t candidates_tried = 0;
  int64_t rows_computed = 0;
  int64_t gap_steps = 0;
  double full_search = 0;    // V^(g+1)
  bool matched = false;      // a candidate was under ε
  bool budget_exhausted = false;
  float distance = 0;        // of the chosen candidate
};

struct GapAttackResult {
  std::vector<int32_t> recovered;  // [N], −1 where unknown
  std::vector<GapStep> steps;      // one per seen, not-known position, in order
  int64_t total_candidates_tried() const;
};

// seen_positions ascending; seen_rows [n_seen][dim] their rows at opts.layer;
// known: (position, token) pairs the attacker knows; n_positions: prompt length.
GapAttackResult gap_attack(const Model& m, const std::vector<int>& seen_positions,
                           const float* seen_rows, const std::vector<std::pair<int, int32_t>>& known,
                           int n_positions, const GapAttackOptions& opts);

}  // namespace cascade::attacks
