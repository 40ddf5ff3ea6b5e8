// The row attack: recover tokens from the rows a node receives or computes
// for a position, at every block (q, k, v rows of an AttnNode; a CompNode's
// own residual and q rows), behind a greedily filled context.
//
// Positions are resolved left to right. A position with no row is filled
// with the model's top next-token guess behind the recovered prefix (so an
// attacker without rows gets exactly the no-view greedy baseline). At a
// position with rows, candidate tokens in the model's order (or token-id
// order) are traced through every block behind the recovered prefix
// (CandidateQkv) and scored by sqrt(Σ‖x_c − x‖² / Σ‖x‖²) over all the
// position's rows; the first under `accept` wins, else the lowest score
// within the budget. A wrong gap filling moves later rows, so a seen
// position can be won by its nearest candidate only.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "model/model.h"

namespace cascade::attacks {

struct RowObservation {
  int pos = 0;
  int layer = 0;          // block
  char kind = 'h';        // 'h': residual input of block `layer` (layer L: the last output);
                          // 'q', 'k', 'v': that block's rows (after RoPE)
  std::vector<float> x;   // dim, q_dim or kv_dim floats
};

struct RowAttackOptions {
  bool model_order = true;  // false: token-id order
  int64_t budget = 0;       // candidates per seen position; 0 = the whole vocabulary
  double accept = 1e-3;
  int batch = 64;
};

struct RowAttackResult {
  std::vector<int32_t> recovered;  // [n_positions]
  std::vector<uint8_t> seen;       // [n] the position has rows
  std::vector<uint8_t> accepted;   // [n] its candidate scored under `accept`
  std::vector<float> score;        // [n]
  std::vector<int> rank;           // [n] candidates tried up to the chosen one
  int64_t candidates_tried = 0;
  int64_t rows_computed = 0;
};

RowAttackResult row_attack(const Model& m, const std::vector<RowObservation>& rows,
                           const std::vector<std::pair<int, int32_t>>& known, int n_positions,
                           const RowAttackOptions& opts, const std::function<void(int, int)>& progress = {});

// The no-view baselines on one prompt: greedy decoding from the known
// positions with no rows at all (what a node with nothing learns), and
// teacher-forced top-1 (each position guessed behind the TRUE prefix: an
// upper reference no node without rows can reach). Known positions are taken as given.
struct PriorBaseline {
  std::vector<int32_t> greedy, teacher_forced;  // [n]
};
PriorBaseline prior_baseline(const Model& m, const std::vector<int32_t>& truth,
                             const std::vector<std::pair<int, int32_t>>& known);

}  // namespace cascade::attacks
