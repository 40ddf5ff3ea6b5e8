// The partial-output attack: recover earlier tokens from the attention
// results a CompNode learns for its own rows.
//
// An observation is one attention result over a known set of key positions
// K for one query row t at one block:
//   e^{lse_h} · [out_h; 1] = Σ_{s∈K} e^{a_hs} · [v_s; 1],   a_hs = q_t,h·k_s/√hd
// per head h. The attacker knows q_t (it computes its own rows) and the
// public weights, so the k, v rows of a guessed prefix are its to compute.
//
// Positions are resolved left to right. At position s every candidate token
// (behind the already recovered prefix) gives k_s, v_s at every block; its
// terms are subtracted, with those of the recovered keys, from every
// observation covering s. What remains of observation o is a positive
// combination of [v; 1] of its still-unresolved keys U_o (keys > s). Per
// block and kv head (the heads of a GQA group share v) the residual rows of
// the observations covering s must span at most |∪ U_o| dimensions; the
// energy beyond that rank (the smallest eigenvalues of their Gram matrix),
// relative to the observations' own energy, is the candidate's score: at
// float rounding for the right token, large for a wrong one once there are
// more residual rows than unresolved keys. The observations of a group
// are taken in order of fewest unresolved keys, as many as give the most
// rows beyond the unresolved count.
//
// Candidates come in the model's next-token order behind the recovered
// prefix (the prior) or in token-id order (no prior); the first under
// `accept` wins, else the lowest score within the budget. A position no
// observation covers (past the node's last row) is filled with the prior's
// top token, and flagged as not covered. The converters from what a
// protocol delivers to AttnObservations live in recorded_views.h.
//
// Rows (RowObservation: q, k, v or residual rows of a position, at any
// block) join the same search: a candidate's score adds
// Σ‖x_c − x‖² / Σ‖x‖² over the position's rows, so one call attacks a
// CompNode's partials and its own rows together, an AttnNode's q/k/v rows
// alone (greedy gap filling with the prior between seen positions), or any
// coalition's concatenated views. With rows only and a wrong gap filling,
// a seen position is won by its nearest candidate. Keys whose k and v rows
// are in the view (a CompNode's own positions) are known outright: their
// terms leave every observation before the search, whatever their token.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "attacks/observations.h"
#include "model/model.h"

namespace cascade::attacks {

struct PartialAttackOptions {
  bool model_order = true;  // false: candidates in token-id order (no prior)
  int64_t budget = 0;       // candidates per position; 0 = the whole vocabulary
  double accept = 1e-3;     // score under which the first candidate is taken
  int batch = 64;
};

struct PartialAttackResult {
  std::vector<int32_t> recovered;  // [n_positions] the attacker's token for every position
  std::vector<uint8_t> covered;    // [n] some observation's keys include the position, or it has rows
  std::vector<uint8_t> testable;   // [n] it has rows, or some group had more residual rows than unresolved keys
  std::vector<uint8_t> accepted;   // [n] the chosen candidate scored under `accept`
  std::vector<float> score;        // [n] score of the chosen candidate (0 where not searched)
  std::vector<int> rank;           // [n] candidates tried up to the chosen one (0: not searched)
  int64_t candidates_tried = 0;    // Σ rank: what a one-at-a-time attacker evaluates
  int64_t rows_computed = 0;       // candidate traces actually computed (whole batches)
};

// progress(done, total) after each position. known: (position, token) pairs
// the attacker knows (BOS, a public prefix). Throws Error on an observation
// or row whose sizes do not fit the model or whose positions lie outside
// [0, n_positions).
PartialAttackResult partial_attack(const Model& m, const ReceivedView& view,
                                   const std::vector<std::pair<int, int32_t>>& known, int n_positions,
                                   const PartialAttackOptions& opts,
                                   const std::function<void(int, int)>& progress = {});

}  // namespace cascade::attacks
